namespace BlockDaemon.Qcow2;

/// <summary>
/// cache-clean-interval: every interval, clean L2 tables and refcount blocks that were not used
/// since the previous tick leave the caches, so an idle image gives its memory back (QEMU's
/// cache_clean_timer; 600 s by default, 0 turns it off).
/// </summary>
public sealed partial class Qcow2Driver
{
    public const long DefaultCacheCleanInterval = 600;

    private static readonly TimeSpan MaxTimerPeriod = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private CancellationTokenSource? _cleanerStop;
    private Task? _cleaner;

    internal void StartCacheCleaner(TimeSpan interval)
    {
        if (interval <= TimeSpan.Zero)
        {
            return;
        }
        // qsd accepts up to 2^32-1 s; a timer period cannot exceed 2^32-2 ms (49 days), which is
        // as good as never for dropping idle tables.
        if (interval > MaxTimerPeriod)
        {
            interval = MaxTimerPeriod;
        }
        _cleanerStop = new CancellationTokenSource();
        _cleaner = CleanCachesAsync(interval, _cleanerStop.Token);
    }

    private async Task CleanCachesAsync(TimeSpan interval, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(interval);
        long l2Mark = _map.Cache.Clock;
        long refcountMark = _refcounts.Cache.Clock;
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                await _lock.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    _map.Cache.DropIdle(l2Mark);
                    _refcounts.Cache.DropIdle(refcountMark);
                    (l2Mark, refcountMark) = (_map.Cache.Clock, _refcounts.Cache.Clock);
                }
                finally
                {
                    _lock.Release();
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async ValueTask StopCacheCleanerAsync()
    {
        if (_cleanerStop is null)
        {
            return;
        }
        await _cleanerStop.CancelAsync().ConfigureAwait(false);
        // The loop ends on cancellation; anything else it met must not keep the image from closing.
        await _cleaner!.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _cleanerStop.Dispose();
    }

    /// <summary>How many L2 tables and refcount blocks the caches hold (for tests and statistics).</summary>
    internal (int L2Tables, int RefcountBlocks) CachedTables => (_map.Cache.Count, _refcounts.Cache.Count);
}
