namespace BlockDaemon.Core.Jobs;

// What a drain asks of a job that uses a drained node (QEMU's child_job: drained_begin pauses the
// job, drained_poll waits until it is quiescent, drained_end resumes it). The drain runs on the
// control loop, while a busy job reaches its pause point on its own thread and enters PAUSED
// through the loop. So that the drain can wait for it without deadlocking the loop, every call
// a job makes to the loop is queued on the job and posted; a waiting drain runs the calls of the
// jobs it waits for itself, as QEMU's drain polls the main loop's handlers (never the monitor).
public sealed partial class Job
{
    private readonly Lock _loopCallsLock = new();
    private readonly Queue<Func<Task>> _loopCalls = new();
    private TaskCompletionSource? _loopCallQueued;
    private int _loopCallsRunning;

    /// <summary>
    /// How long a drain waits for a job that does not become quiescent. A job's own requests are
    /// never held by a drain that waits for it (jobs are paused before their nodes' requests are
    /// held), so this only bounds the unforeseen: the drain then goes on and the job pauses at its
    /// next pause point, rather than the control loop hanging.
    /// </summary>
    internal static TimeSpan QuiesceLimit { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Runs work on the control loop from the job's thread-pool code, and waits for it.</summary>
    public Task<T> OnControlLoopAsync<T>(Func<Task<T>> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        TaskCompletionSource? queued;
        lock (_loopCallsLock)
        {
            _loopCalls.Enqueue(async () =>
            {
                try
                {
                    done.TrySetResult(await work().ConfigureAwait(false));
                }
                catch (Exception e)
                {
                    done.TrySetException(e);
                }
            });
            queued = _loopCallQueued;
            _loopCallQueued = null;
        }
        queued?.TrySetResult();
        _manager.ControlPlane.Post(RunLoopCallsAsync);
        return done.Task;
    }

    // On the loop: whichever comes first, the posted item or a waiting drain, runs the queued calls.
    private async Task RunLoopCallsAsync()
    {
        while (true)
        {
            Func<Task>? call;
            lock (_loopCallsLock)
            {
                if (!_loopCalls.TryDequeue(out call))
                {
                    return;
                }
            }
            Interlocked.Increment(ref _loopCallsRunning);
            try
            {
                await call().ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _loopCallsRunning);
            }
        }
    }

    /// <summary>
    /// Quiescent for a drain (child_job_drained_poll): paused, not started, its work over, or its
    /// thread waiting for a loop call that is running now (a drain made by the job's own loop
    /// call must not wait for the job, as mirror's in_drain). A sleeping job is paused at once by
    /// <see cref="DrainBegin"/>.
    /// </summary>
    public bool IsQuiescent => !Started || Paused || DeferredToMainLoop || Work is { IsCompleted: true }
                               || Volatile.Read(ref _loopCallsRunning) > 0;

    /// <summary>job_pause from a drain: one more pause; a job sleeping now goes to PAUSED (STANDBY) at once.</summary>
    public void DrainBegin()
    {
        Pause();
        PauseSleeper();
    }

    /// <summary>job_resume at the drain's end: the last reason gone, the job is RUNNING (READY) again at once.</summary>
    public void DrainEnd() => Resume();

    /// <summary>
    /// On the loop, after <see cref="DrainBegin"/>: returns once the job is quiescent, running the
    /// job's loop calls meanwhile (its pause point's among them).
    /// </summary>
    public async ValueTask WaitQuiescentAsync()
    {
        var deadline = DateTime.UtcNow + QuiesceLimit;
        while (true)
        {
            await RunLoopCallsAsync().ConfigureAwait(false);
            if (IsQuiescent)
            {
                return;
            }
            Task queued;
            lock (_loopCallsLock)
            {
                if (_loopCalls.Count > 0)
                {
                    continue;
                }
                _loopCallQueued ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                queued = _loopCallQueued.Task;
            }
            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                return;
            }
            var waitFor = Work is { } work ? Task.WhenAny(queued, work) : queued;
            try
            {
                await waitFor.WaitAsync(remaining).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return;
            }
        }
    }
}
