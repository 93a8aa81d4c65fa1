using BlockDaemon.Core.Errors;

namespace BlockDaemon.Core.Jobs;

/// <summary>
/// What differs per kind of job (QEMU's JobDriver). The engine (<see cref="Job"/>) owns the state
/// machine; a driver supplies the work and the hooks QEMU calls at each stage. Every hook except
/// <see cref="RunAsync"/> runs on the control loop.
/// </summary>
public abstract class JobDriver
{
    public abstract JobType Type { get; }

    /// <summary>
    /// Whether a cancel of the idle job may finish it inside the cancel command (events before
    /// the reply). qsd's mirror always waits for its in-flight I/O first, so its events follow the reply.
    /// </summary>
    public virtual bool CancelsInline => true;

    /// <summary>
    /// The job's work. Like a QEMU coroutine entered by job_start, it starts on the control loop
    /// (inside the command that created the job) and stays there until its first await that
    /// really suspends; from then on it runs on the thread pool, so graph changes go through
    /// <see cref="Job.OnControlLoopAsync{T}"/>. Failure is a thrown <see cref="BlockException"/>.
    /// Long-running jobs call <see cref="Job.PausePointAsync"/> between chunks of work.
    /// </summary>
    public abstract ValueTask RunAsync(Job job, CancellationToken ct);

    /// <summary>Whether job-complete means anything to this job (QEMU: a .complete callback).</summary>
    public virtual bool CanComplete => false;

    /// <summary>job-complete on a READY/STANDBY job.</summary>
    public virtual void Complete(Job job) =>
        throw new BlockException(BlockErrorKind.NotSupported, $"The active block job '{job.Id}' cannot be completed");

    /// <summary>
    /// Right after job-complete or a user's cancel, on the loop inside the command: what the verb
    /// started that qsd finishes before the reply (a mirror's drain pausing other jobs).
    /// </summary>
    public virtual ValueTask AfterVerbAsync(Job job) => ValueTask.CompletedTask;

    /// <summary>A cancel request; returns whether it is a forced one (QEMU: no .cancel means forced).</summary>
    public virtual bool Cancel(Job job, bool force) => true;

    /// <summary>The user resumed the job (QEMU's .user_resume, e.g. to reset an I/O status).</summary>
    public virtual void UserResume(Job job)
    {
    }

    /// <summary>The first step of finalization; a failure here aborts the job.</summary>
    public virtual ValueTask PrepareAsync(Job job) => ValueTask.CompletedTask;

    public virtual ValueTask CommitAsync(Job job) => ValueTask.CompletedTask;

    public virtual ValueTask AbortAsync(Job job) => ValueTask.CompletedTask;

    /// <summary>Runs after commit or abort, success or not: release nodes and users here.</summary>
    public virtual ValueTask CleanAsync(Job job) => ValueTask.CompletedTask;

    /// <summary>The job waits in PENDING for job-finalize (block jobs send BLOCK_JOB_PENDING here).</summary>
    public virtual void OnPending(Job job)
    {
    }

    /// <summary>The job reached READY (block jobs send BLOCK_JOB_READY here).</summary>
    public virtual void OnReady(Job job)
    {
    }

    /// <summary>The job finished, just before CONCLUDED (block jobs send BLOCK_JOB_COMPLETED or _CANCELLED here).</summary>
    public virtual void OnFinalized(Job job, bool cancelled)
    {
    }
}
