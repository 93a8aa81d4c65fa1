namespace BlockDaemon.Nbd.Protocol;

/// <summary>Structured reply chunk types; errors have bit 15 set.</summary>
public enum NbdReplyChunkType : ushort
{
    None = 0,
    OffsetData = 1,
    OffsetHole = 2,
    BlockStatus = 5,
    Error = 0x8000 | 1,
    ErrorOffset = 0x8000 | 2,
}

/// <summary>Structured reply chunk flags.</summary>
[Flags]
public enum NbdReplyFlags : ushort
{
    None = 0,
    /// <summary>The last chunk of the reply to this request.</summary>
    Done = 1 << 0,
}

/// <summary>Flags of a base:allocation extent.</summary>
[Flags]
public enum NbdAllocationFlags : uint
{
    None = 0,
    /// <summary>Not allocated: reads come from nowhere (zeroes or a backing file).</summary>
    Hole = 1 << 0,
    /// <summary>Reads as zeroes.</summary>
    Zero = 1 << 1,
}
