using BlockDaemon.Jobs.Copy;

namespace BlockDaemon.Jobs.Tests;

/// <summary>An <see cref="ICopyJob"/> that records progress and answers errors with a scripted policy.</summary>
internal sealed class TestCopyJob(Func<CopyOperation, Exception, CopyErrorAction>? onError = null) : ICopyJob
{
    private long _done;

    public List<long> ProgressSamples { get; } = [];
    public long Total { get; private set; }
    public long Done => Interlocked.Read(ref _done);
    public int PausePoints { get; private set; }
    public List<(CopyOperation Operation, Exception Error)> Errors { get; } = [];
    public bool PauseRequested { get; set; }
    public RateLimiter Limiter { get; } = new();

    public ValueTask PausePointAsync()
    {
        PausePoints++;
        PauseRequested = false;
        return ValueTask.CompletedTask;
    }

    public void ReportProgress(long bytes)
    {
        long now = Interlocked.Add(ref _done, bytes);
        lock (ProgressSamples)
        {
            ProgressSamples.Add(now);
        }
    }

    public void SetTotal(long bytes) => Total = Done + bytes;

    /// <summary>Every rate-limit sleep asked for.</summary>
    public List<TimeSpan> Sleeps { get; } = [];

    /// <summary>When set, sleeps return at once as woken early (a resume or a faster speed) instead of waiting.</summary>
    public bool WokenEarly { get; set; }

    public async ValueTask<bool> SleepAsync(TimeSpan delay, CancellationToken ct)
    {
        Sleeps.Add(delay);
        if (WokenEarly)
        {
            // An engine that ignores the wake would ask for the same sleep forever.
            return Sleeps.Count <= 1000 ? true : throw new InvalidOperationException("The job keeps sleeping after being woken");
        }
        await Task.Delay(delay, ct);
        return false;
    }

    public ValueTask<CopyErrorAction> OnErrorAsync(CopyOperation operation, Exception error)
    {
        Errors.Add((operation, error));
        return ValueTask.FromResult(onError?.Invoke(operation, error) ?? CopyErrorAction.Fail);
    }
}
