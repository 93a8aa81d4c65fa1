namespace BlockDaemon.Core.Io;

/// <summary>
/// Discards as a protocol driver passed them to the host, QEMU's file-posix counters
/// (query-blockstats shows them as the node's driver-specific statistics). Updated lock-free.
/// </summary>
public sealed class DiscardStatistics
{
    private long _succeeded;
    private long _failed;
    private long _succeededBytes;

    public long Succeeded => Interlocked.Read(ref _succeeded);

    public long Failed => Interlocked.Read(ref _failed);

    public long SucceededBytes => Interlocked.Read(ref _succeededBytes);

    internal void Record(long bytes, bool succeeded)
    {
        if (succeeded)
        {
            Interlocked.Increment(ref _succeeded);
            Interlocked.Add(ref _succeededBytes, bytes);
        }
        else
        {
            Interlocked.Increment(ref _failed);
        }
    }
}

/// <summary>A driver that keeps <see cref="DiscardStatistics"/> (QEMU: file and host_device).</summary>
public interface IDiscardStatisticsSource
{
    DiscardStatistics Discards { get; }
}
