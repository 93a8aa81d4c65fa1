namespace BlockDaemon.Core.Jobs;

// What block jobs add to the engine: READY, and the pause an I/O error policy asks for.
public sealed partial class Job
{
    /// <summary>
    /// job_transition_to_ready: the job's work has caught up and job-complete may end it. Runs on
    /// the control loop; the driver's hook sends BLOCK_JOB_READY after the status change.
    /// </summary>
    /// <remarks>
    /// <paramref name="goingIdle"/>: the job sleeps right after (nothing left to copy). qsd's job
    /// reaches that sleep before its main loop reads another command, so a query-block-jobs
    /// right after BLOCK_JOB_READY sees busy=false; here the job's thread gets there a little
    /// later, so the flag drops now, in the same loop item as the event.
    /// </remarks>
    public void TransitionToReady(bool goingIdle = false)
    {
        Transition(JobStatus.Ready);
        if (goingIdle)
        {
            Busy = false;
        }
        Driver.OnReady(this);
    }

    /// <summary>READY or STANDBY: job-complete is accepted.</summary>
    public bool IsReady => Status is JobStatus.Ready or JobStatus.Standby;

    /// <summary>
    /// on-error=stop (block_job_error_action): the job pauses at its next pause point as if the
    /// user had paused it, so that job-resume lets it go on. No-op when already user-paused.
    /// </summary>
    public void PauseForError()
    {
        if (UserPaused)
        {
            return;
        }
        Pause();
        UserPaused = true;
    }

    /// <summary>
    /// After <see cref="PauseForError"/> and its BLOCK_JOB_ERROR, in the same control-loop item:
    /// the job is PAUSED before the loop runs another command, as qsd's job pauses before its main
    /// loop reads the next one. The task completes when the job is resumed.
    /// </summary>
    public Task EnterPauseForError() => EnterPause();
}

public sealed partial class Job
{
    /// <summary>
    /// job_early_fail: a job that failed while being set up (after it was CREATED, before it was
    /// started) goes straight to NULL and disappears, as qsd shows (created, then null).
    /// </summary>
    public void EarlyFail()
    {
        if (Started)
        {
            throw new InvalidOperationException($"Job '{Id}' has already started");
        }
        Transition(JobStatus.Null);
        _manager.Remove(this);
        Dispose();
    }
}

// job_sleep_ns: a sleep (a rate-limit wait) that is also a pause point. A pause requested while
// the job sleeps takes effect at once, on the loop, so its event precedes the command's reply
// as in qsd, where job_pause enters the sleeping coroutine.
public sealed partial class Job
{
    private static readonly TimeSpan LongestSleep = TimeSpan.FromDays(1);
    private readonly Lock _sleepLock = new();
    private TaskCompletionSource? _sleeper;
    private Task? _resumedAfterSleep;

    /// <summary>
    /// Sleeps up to <paramref name="delay"/>; returns early when cancelled, later when paused
    /// meanwhile (after the resume). A pause already requested is taken here instead of the sleep,
    /// as job_sleep_ns goes to its pause point: returning at once would let the caller run on
    /// (or spin in its sleep loop) until some later pause point.
    /// </summary>
    /// <returns>
    /// Whether the job was entered before the delay was over: paused and resumed, or woken by
    /// <see cref="WakeSleeper"/>. qsd's job then goes on at once instead of sleeping the rest.
    /// </returns>
    public async ValueTask<bool> SleepAsync(TimeSpan delay, CancellationToken ct, Task? wakeEarly = null)
    {
        // A crawling speed can owe weeks, beyond what a timer takes; a caller that was not woken
        // asks its rate limit again, so sleeping a day at a time changes nothing.
        if (delay > LongestSleep)
        {
            delay = LongestSleep;
        }
        var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool pauseNow = false;
        lock (_sleepLock)
        {
            if (IsCancelled)
            {
                return false;
            }
            if (PauseCount > 0)
            {
                pauseNow = true;
            }
            else
            {
                _sleeper = wake;
            }
        }
        if (pauseNow)
        {
            await PausePointAsync().ConfigureAwait(false);
            return true;
        }
        Busy = false;
        try
        {
            var woken = wakeEarly is null ? wake.Task : Task.WhenAny(wake.Task, wakeEarly);
            await woken.WaitAsync(delay, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The normal end of a sleep.
        }
        catch (OperationCanceledException)
        {
            // Cancelled: the caller checks its token.
        }
        Task? resumed;
        bool entered;
        lock (_sleepLock)
        {
            entered = wake.Task.IsCompleted;
            _sleeper = null;
            resumed = _resumedAfterSleep;
            _resumedAfterSleep = null;
        }
        if (resumed is not null)
        {
            await resumed.ConfigureAwait(false);
        }
        Busy = true;
        return entered;
    }

    /// <summary>
    /// Ends a sleep early without pausing (block_job_set_speed's job_enter_cond): the job
    /// recomputes how long it still has to wait at the new speed.
    /// </summary>
    public void WakeSleeper()
    {
        lock (_sleepLock)
        {
            if (_sleeper is { } sleeper)
            {
                _sleeper = null;
                sleeper.TrySetResult();
            }
        }
    }

    // Called on the loop by UserPause: a sleeping job goes to PAUSED now.
    private void PauseSleeper()
    {
        lock (_sleepLock)
        {
            if (_sleeper is not { } sleeper)
            {
                return;
            }
            _sleeper = null;
            _resumedAfterSleep = EnterPause();
            sleeper.TrySetResult();
        }
    }
}

public sealed partial class Job
{
    private int _completionClaimed;

    /// <summary>The running work (what JobManager started); its result is the failure, or null.</summary>
    internal Task<Exception?>? Work { get; set; }

    /// <summary>Whoever gets true runs the job's completion: the cancel that waited for the work, or the engine.</summary>
    internal bool ClaimCompletion() => Interlocked.Exchange(ref _completionClaimed, 1) == 0;
}

public sealed partial class Job
{
    /// <summary>Set by a command that may end the job (cancel, complete): the engine reports the end only after that command's reply.</summary>
    internal Task? CompletionBarrier { get; private set; }

    /// <summary>
    /// A verb about to end the job: its events must not overtake the verb's reply, which the
    /// session writes after the command returns while the loop already runs the next item.
    /// </summary>
    public void HoldCompletionUntil(Task replySent) => CompletionBarrier = replySent;

    /// <summary>
    /// Completes once the reply of the command that started the job is queued. A job's error
    /// (BLOCK_JOB_ERROR) waits for it: in qsd an I/O error only ever returns after a yield, so
    /// after that reply, however fast the failing request came back here.
    /// </summary>
    public Task StartReplySent { get; internal set; } = Task.CompletedTask;
}
