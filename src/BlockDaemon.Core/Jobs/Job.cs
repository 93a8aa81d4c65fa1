using BlockDaemon.Core.Errors;

namespace BlockDaemon.Core.Jobs;

/// <summary>
/// One job and QEMU 7.2's state machine (job.c). Every member that changes state runs on the
/// control loop; the driver's work runs on the thread pool and comes back here through
/// <see cref="IControlPlane"/>. A job is a one-job transaction, as in QEMU when no JobTxn is given.
/// </summary>
public sealed partial class Job : IDisposable
{
    private readonly JobManager _manager;
    private readonly CancellationTokenSource _cancel = new();
    private int _pauseCount = 1;
    private TaskCompletionSource? _wake;
    private JobStatus _statusBeforePause;
    private bool _failed;
    private bool _finalizing;

    internal Job(JobManager manager, string? id, JobDriver driver, JobFlags flags)
    {
        _manager = manager;
        Id = id;
        Driver = driver;
        AutoFinalize = (flags & JobFlags.ManualFinalize) == 0;
        AutoDismiss = (flags & JobFlags.ManualDismiss) == 0;
    }

    /// <summary>The user's name for the job; null for internal jobs, which send no events.</summary>
    public string? Id { get; }

    public JobDriver Driver { get; }
    public JobType Type => Driver.Type;
    public JobStatus Status { get; private set; } = JobStatus.Undefined;
    public bool AutoFinalize { get; }
    public bool AutoDismiss { get; }
    public JobProgress Progress { get; } = new();

    /// <summary>The error that ended the job (query-jobs 'error'), null while none.</summary>
    public string? Error { get; private set; }

    /// <summary>Block jobs' rate limit in bytes per second (0 = unlimited).</summary>
    public long Speed { get; set; }

    public bool Busy { get; private set; }
    public bool Paused { get; private set; } = true;
    public bool UserPaused { get; private set; }
    public int PauseCount => Volatile.Read(ref _pauseCount);

    /// <summary>Started by <see cref="JobManager.StartAsync"/> (QEMU: job->co is set).</summary>
    public bool Started { get; private set; }

    /// <summary>The work has returned and completion runs on the control loop.</summary>
    public bool DeferredToMainLoop { get; private set; }

    /// <summary>A cancel was requested, forced or not (job_cancel_requested).</summary>
    public bool CancelRequested { get; private set; }

    /// <summary>Cancelled for real (job_is_cancelled): only forced cancels count.</summary>
    public bool IsCancelled { get; private set; }

    /// <summary>WAITING, PENDING, ABORTING, CONCLUDED or NULL: the work is over (job_is_completed).</summary>
    public bool IsCompleted => Status is JobStatus.Waiting or JobStatus.Pending or JobStatus.Aborting
        or JobStatus.Concluded or JobStatus.Null;

    /// <summary>
    /// Where a running job may be paused (job_pause_point): if a pause was requested and the job
    /// is not cancelled, it goes to PAUSED (or STANDBY when READY) until resumed or cancelled.
    /// </summary>
    public async ValueTask PausePointAsync()
    {
        if (PauseCount == 0 || IsCancelled)
        {
            return;
        }
        var wake = await OnControlLoopAsync(() => Task.FromResult(EnterPause())).ConfigureAwait(false);
        await wake.ConfigureAwait(false);
    }

    private Task EnterPause()
    {
        if (PauseCount == 0 || IsCancelled)
        {
            return Task.CompletedTask;
        }
        if (_wake is { } pausedAlready)
        {
            return pausedAlready.Task;
        }
        _statusBeforePause = Status;
        Transition(Status == JobStatus.Ready ? JobStatus.Standby : JobStatus.Paused);
        Paused = true;
        Busy = false;
        _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _wake.Task;
    }

    // job_enter: a job waiting in a pause point goes back to its status at once, on the loop,
    // as QEMU's coroutine does when entered, so the event precedes the reply of the command.
    private void Enter()
    {
        if (_wake is not { } wake)
        {
            return;
        }
        _wake = null;
        Paused = false;
        Busy = true;
        Transition(_statusBeforePause);
        wake.SetResult();
    }

    internal void Transition(JobStatus to)
    {
        var from = Status;
        if (!JobStateTable.CanTransition(from, to))
        {
            throw new InvalidOperationException($"Job '{Id}': no transition from '{from.ToQapi()}' to '{to.ToQapi()}'");
        }
        Status = to;
        if (Id is not null && from != to)
        {
            _manager.Events.StatusChanged(Id, to);
        }
    }

    /// <summary>job_apply_verb: refuses a verb the current status does not accept, in qsd's words.</summary>
    public void ApplyVerb(JobVerb verb)
    {
        if (!JobStateTable.Accepts(Status, verb))
        {
            throw new BlockException(BlockErrorKind.InvalidArgument,
                $"Job '{Id}' in state '{Status.ToQapi()}' cannot accept command verb '{verb.ToQapi()}'");
        }
    }

    internal void MarkCreated() => Transition(JobStatus.Created);

    internal void MarkStarted()
    {
        Started = true;
        _pauseCount--;
        Busy = true;
        Paused = false;
        Transition(JobStatus.Running);
    }

    internal CancellationToken CancellationToken => _cancel.Token;

    internal void RecordRunResult(Exception? failure)
    {
        DeferredToMainLoop = true;
        Busy = false;
        if (failure is null)
        {
            return;
        }
        _failed = true;
        // A job that stops because it was cancelled has no error of its own: UpdateRc names it.
        if (failure is not OperationCanceledException || !IsCancelled)
        {
            Error = failure.Message;
        }
    }

    /// <summary>Releases the cancellation source; the engine calls it when the job reaches NULL.</summary>
    public void Dispose() => _cancel.Dispose();
}
