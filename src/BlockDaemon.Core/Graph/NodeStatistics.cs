namespace BlockDaemon.Core.Graph;

/// <summary>Per-node I/O counters, updated lock-free from the data plane.</summary>
public sealed class NodeStatistics
{
    private long _readBytes;
    private long _writeBytes;
    private long _readOps;
    private long _writeOps;
    private long _flushOps;
    private long _discardOps;
    private long _failedOps;
    private long _highestWriteEnd;

    public long ReadBytes => Interlocked.Read(ref _readBytes);
    public long WriteBytes => Interlocked.Read(ref _writeBytes);
    public long ReadOps => Interlocked.Read(ref _readOps);
    public long WriteOps => Interlocked.Read(ref _writeOps);
    public long FlushOps => Interlocked.Read(ref _flushOps);
    public long DiscardOps => Interlocked.Read(ref _discardOps);
    public long FailedOps => Interlocked.Read(ref _failedOps);

    /// <summary>
    /// QEMU's wr_highest_offset: the end of the highest write or write-zeroes this node admitted,
    /// whether or not the driver then succeeded (bdrv_co_write_req_finish counts both).
    /// </summary>
    public long HighestWriteEnd => Interlocked.Read(ref _highestWriteEnd);

    internal void Read(long bytes)
    {
        Interlocked.Add(ref _readBytes, bytes);
        Interlocked.Increment(ref _readOps);
    }

    internal void Write(long bytes)
    {
        Interlocked.Add(ref _writeBytes, bytes);
        Interlocked.Increment(ref _writeOps);
    }

    internal void WriteReached(long end)
    {
        // Usually one read: most writes land below the mark, and sequential ones raise it once each.
        long seen = Interlocked.Read(ref _highestWriteEnd);
        while (end > seen)
        {
            long before = Interlocked.CompareExchange(ref _highestWriteEnd, end, seen);
            if (before == seen)
            {
                return;
            }
            seen = before;
        }
    }

    internal void Flush() => Interlocked.Increment(ref _flushOps);

    internal void Discard() => Interlocked.Increment(ref _discardOps);

    internal void Failed() => Interlocked.Increment(ref _failedOps);
}
