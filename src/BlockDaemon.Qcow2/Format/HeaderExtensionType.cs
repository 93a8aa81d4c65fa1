namespace BlockDaemon.Qcow2.Format;

/// <summary>Header extension type codes from the qcow2 specification.</summary>
public static class HeaderExtensionType
{
    public const uint End = 0x00000000;
    public const uint BackingFormat = 0xe2792aca;
    public const uint FeatureNameTable = 0x6803f857;
    public const uint Bitmaps = 0x23852875;
    public const uint FullDiskEncryption = 0x0537be77;
    public const uint ExternalDataFile = 0x44415441;
}

/// <summary>One header extension, kept as raw bytes so unknown ones survive a header rewrite.</summary>
public sealed record HeaderExtension(uint Type, byte[] Data);
