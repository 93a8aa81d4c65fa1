namespace BlockDaemon.Core.Io;

[Flags]
public enum BlockStatusFlags
{
    None = 0,
    /// <summary>The range holds data in this node (or its file).</summary>
    Data = 1,
    /// <summary>The range reads as zeroes.</summary>
    Zero = 2,
    /// <summary>The range is allocated in this layer (not from a backing file).</summary>
    Allocated = 4,
}

/// <summary>The status of the first <see cref="Length"/> bytes of a queried range.</summary>
public readonly record struct BlockStatus(long Length, BlockStatusFlags Flags);
