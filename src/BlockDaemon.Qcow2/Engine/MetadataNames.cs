namespace BlockDaemon.Qcow2.Engine;

/// <summary>QEMU's names for the kinds of qcow2 metadata, as its overlap-check messages use them.</summary>
internal static class MetadataNames
{
    public const string Header = "qcow2_header";
    public const string ActiveL1 = "active L1 table";
    public const string ActiveL2 = "active L2 table";
    public const string RefcountTable = "refcount table";
    public const string RefcountBlock = "refcount block";
    public const string SnapshotTable = "snapshot table";
    public const string InactiveL1 = "inactive L1 table";
}
