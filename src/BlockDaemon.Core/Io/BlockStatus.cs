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
    /// <summary>
    /// Ask the host node whether the mapped bytes are a hole (QEMU's BDRV_BLOCK_RECURSE): set by
    /// a format driver only where it cannot tell itself, consumed by the generic layer, never
    /// seen by callers of a node's block status.
    /// </summary>
    Recurse = 8,
}

/// <summary>
/// The status of the first <see cref="Length"/> bytes of a queried range. When
/// <see cref="HostOffset"/> is not negative, the bytes live at that offset of
/// <see cref="HostNode"/> (QEMU's BDRV_BLOCK_OFFSET_VALID with its map and file).
/// </summary>
public readonly record struct BlockStatus(long Length, BlockStatusFlags Flags, long HostOffset = -1, Graph.BlockNode? HostNode = null);
