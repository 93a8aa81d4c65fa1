namespace BlockDaemon.Core.Jobs;

/// <summary>
/// QEMU's ProgressMeter: current and total, updated by the job's data-plane code and read by
/// query-jobs on the control loop, hence the interlocked access.
/// </summary>
public sealed class JobProgress
{
    private long _current;
    private long _total;

    public long Current => Interlocked.Read(ref _current);
    public long Total => Interlocked.Read(ref _total);

    /// <summary>Adds work done (job_progress_update).</summary>
    public void Update(long done) => Interlocked.Add(ref _current, done);

    /// <summary>Sets how much is still to do (job_progress_set_remaining): total = current + remaining.</summary>
    public void SetRemaining(long remaining) => Interlocked.Exchange(ref _total, Current + remaining);

    /// <summary>Grows the remaining work (job_progress_increase_remaining).</summary>
    public void IncreaseRemaining(long delta) => Interlocked.Add(ref _total, delta);
}
