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

    public long ReadBytes => Interlocked.Read(ref _readBytes);
    public long WriteBytes => Interlocked.Read(ref _writeBytes);
    public long ReadOps => Interlocked.Read(ref _readOps);
    public long WriteOps => Interlocked.Read(ref _writeOps);
    public long FlushOps => Interlocked.Read(ref _flushOps);
    public long DiscardOps => Interlocked.Read(ref _discardOps);
    public long FailedOps => Interlocked.Read(ref _failedOps);

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

    internal void Flush() => Interlocked.Increment(ref _flushOps);

    internal void Discard() => Interlocked.Increment(ref _discardOps);

    internal void Failed() => Interlocked.Increment(ref _failedOps);
}
