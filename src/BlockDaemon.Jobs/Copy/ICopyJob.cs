namespace BlockDaemon.Jobs.Copy;

/// <summary>What the copy engine needs from the job it works for.</summary>
public interface ICopyJob
{
    /// <summary>Whether a pause was requested: the engine then lets its in-flight chunks finish first.</summary>
    bool PauseRequested { get; }

    /// <summary>Where the job may be paused (job_pause_point); returns when it may go on.</summary>
    ValueTask PausePointAsync();

    /// <summary>Adds finished work to the job's progress (never more than the planned total).</summary>
    void ReportProgress(long bytes);

    /// <summary>Called once with the total before anything is copied.</summary>
    void SetTotal(long bytes);

    RateLimiter Limiter { get; }

    /// <summary>
    /// Sleeps for a rate-limit wait; a pause requested meanwhile is served inside it. Returns
    /// whether the job was woken before the delay was over (paused and resumed, or a faster speed).
    /// </summary>
    ValueTask<bool> SleepAsync(TimeSpan delay, CancellationToken ct);

    /// <summary>The job's error policy for a failed chunk (may pause the job for Retry).</summary>
    ValueTask<CopyErrorAction> OnErrorAsync(CopyOperation operation, Exception error);
}
