namespace BlockDaemon.Nbd.Protocol;

/// <summary>The magic numbers that open each NBD frame (NetworkBlockDevice doc/proto.md).</summary>
public static class NbdMagic
{
    /// <summary>"NBDMAGIC": first 8 bytes of every newstyle greeting.</summary>
    public const ulong Init = 0x4e42444d41474943;

    /// <summary>"IHAVEOPT": second word of the greeting and first word of every option.</summary>
    public const ulong Option = 0x49484156454f5054;

    /// <summary>Opens every option reply.</summary>
    public const ulong OptionReply = 0x0003e889045565a9;

    /// <summary>Opens every transmission request (compact headers).</summary>
    public const uint Request = 0x25609513;

    /// <summary>Opens a simple reply.</summary>
    public const uint SimpleReply = 0x67446698;

    /// <summary>Opens a structured reply chunk.</summary>
    public const uint StructuredReply = 0x668e33ef;
}
