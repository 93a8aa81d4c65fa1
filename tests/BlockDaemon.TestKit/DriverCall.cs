using BlockDaemon.Core.Io;

namespace BlockDaemon.TestKit;

/// <summary>What a <see cref="MemoryDriver"/> operation was asked to do.</summary>
public enum DriverOp { Read, Write, WriteZeroes, Discard, Flush, BlockStatus, Truncate }

/// <summary>One request as the driver received it, after the generic path aligned and split it.</summary>
public readonly record struct DriverCall(DriverOp Op, long Offset, long Length, WriteFlags Flags = WriteFlags.None)
{
    public long End => Offset + Length;
}
