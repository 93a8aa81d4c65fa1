namespace BlockDaemon.Core.Drivers.Blkdebug;

/// <summary>BlkdebugIOType: the kinds of request an injected error can hit, as mask bits.</summary>
[Flags]
public enum BlkdebugIoType
{
    None = 0,
    Read = 1 << 0,
    Write = 1 << 1,
    WriteZeroes = 1 << 2,
    Discard = 1 << 3,
    Flush = 1 << 4,
    BlockStatus = 1 << 5,

    /// <summary>What a rule without iotype hits: everything but block-status.</summary>
    Default = Read | Write | WriteZeroes | Discard | Flush,
}

public static class BlkdebugIoTypes
{
    public static BlkdebugIoType Parse(string name) => name switch
    {
        "read" => BlkdebugIoType.Read,
        "write" => BlkdebugIoType.Write,
        "write-zeroes" => BlkdebugIoType.WriteZeroes,
        "discard" => BlkdebugIoType.Discard,
        "flush" => BlkdebugIoType.Flush,
        "block-status" => BlkdebugIoType.BlockStatus,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Not a BlkdebugIOType"),
    };
}
