using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Jobs;
using BlockDaemon.Jobs.Copy;

namespace BlockDaemon.Jobs.BlockJobs;

/// <summary>
/// What every block job shares (QEMU's blockjob.c): speed, the on-error policy and I/O status,
/// the BLOCK_JOB_* events, the nodes it blocks (op blockers) and the users it attached, all
/// released in <see cref="CleanAsync"/>. Subclasses do their work in <see cref="RunCoreAsync"/>,
/// usually with a <see cref="CopyEngine"/>.
/// </summary>
public abstract class BlockJob : JobDriver, ICopyJob
{
    private readonly List<BlockNode> _blocked = [];
    private readonly List<BlockUser> _users = [];
    private Job? _job;

    protected BlockJob(BlockGraph graph, IBlockJobEvents events, OnErrorPolicy onError)
    {
        Graph = graph;
        Events = events;
        OnError = onError;
    }

    protected BlockGraph Graph { get; }
    public IBlockJobEvents Events { get; }
    public OnErrorPolicy OnError { get; }
    public IoStatus IoStatus { get; private set; }
    public RateLimiter Limiter { get; } = new();

    /// <summary>The engine's job; set when the job is created.</summary>
    public Job Job => _job ?? throw new InvalidOperationException("The block job has no job yet");

    /// <summary>The op blocker text other commands see ("block device is in use by block job: stream").</summary>
    public string BlockerReason => $"block device is in use by block job: {Type.ToQapi()}";

    /// <summary>Ties the driver to its engine job (right after JobManager.Create).</summary>
    public void Attach(Job job)
    {
        _job = job;
        foreach (var user in _users)
        {
            user.Job = job;
        }
    }

    /// <summary>block_job_set_speed: the verb check, then the value.</summary>
    public void SetSpeed(long speed)
    {
        Job.ApplyVerb(JobVerb.SetSpeed);
        if (speed < 0)
        {
            throw BlockException.Invalid("Parameter 'speed' expects a non-negative value");
        }
        long old = Job.Speed;
        Job.Speed = speed;
        Limiter.Speed = speed;
        if (speed == 0 || speed > old || WakesOnEverySpeed)
        {
            Job.WakeSleeper();
        }
    }

    /// <summary>
    /// Whether any new speed wakes the sleeping job. qsd's block_job_set_speed wakes it only
    /// for no limit or a faster one (a slower one is honoured after the current sleep); its
    /// backup's block-copy is kicked on every change.
    /// </summary>
    protected virtual bool WakesOnEverySpeed => false;

    /// <summary>Puts an op blocker on a node for the job's life (block_job_add_bdrv).</summary>
    protected void Block(BlockNode node)
    {
        node.AddBlocker(BlockerReason);
        _blocked.Add(node);
    }

    /// <summary>
    /// Attaches a user edge to a node, released when the job ends. A job child (QEMU's child_job)
    /// makes the node busy rather than in use; a plain one is like the BlockBackend a job does
    /// its I/O through.
    /// </summary>
    protected BlockChild Use(BlockNode node, BlockPermissions perm, BlockPermissions shared, bool jobChild = false)
    {
        return Hold(Graph.AttachUser(null, node, perm, shared, jobChild));
    }

    /// <summary>
    /// <see cref="Use"/> for a job child that QEMU names (block_job_add_bdrv's "intermediate
    /// node"): permission errors then name the job ("stream job 's' (uses node 'x' as
    /// 'intermediate node' child)").
    /// </summary>
    protected BlockChild UseNamed(BlockNode node, string role, BlockPermissions perm, BlockPermissions shared)
    {
        return Hold(Graph.AttachUser(null, node, perm, shared, jobChild: true, role, $"{Type.ToQapi()} job '{Job.Id}'"));
    }

    // Any node the job holds pauses it when drained (block_job_add_bdrv's child_job); an edge
    // taken before Attach gets the job there.
    private BlockChild Hold(BlockUser user)
    {
        user.Job = _job;
        _users.Add(user);
        return user.Root!;
    }

    /// <summary>Whether <paramref name="edge"/> is one the job took with <see cref="Use"/> (a pivot leaves those where they are).</summary>
    protected bool OwnsEdge(BlockChild edge) => _users.Exists(u => u.Root == edge);

    /// <summary>Lets go of an edge taken with <see cref="Use"/> before the job ends (before a pivot).</summary>
    protected void Release(BlockChild edge)
    {
        var user = _users.FirstOrDefault(u => u.Root == edge);
        if (user is not null)
        {
            _users.Remove(user);
            Graph.DetachUser(user);
        }
    }

    public sealed override async ValueTask RunAsync(Job job, CancellationToken ct)
    {
        try
        {
            await RunCoreAsync(job, ct).ConfigureAwait(false);
        }
        catch (BlockException e) when (e.Kind is BlockErrorKind.IoError or BlockErrorKind.NoSpace or BlockErrorKind.OutOfRange
                                         or BlockErrorKind.ReadOnly or BlockErrorKind.Corrupt)
        {
            // A block job's error is the errno's text, as QEMU reports job->ret.
            throw new BlockException(e.Kind, Errno.Text(ErrnoOf(e)), e);
        }
    }

    protected abstract ValueTask RunCoreAsync(Job job, CancellationToken ct);

    /// <summary>
    /// What on-error=ignore does to a failed chunk: qsd's stream leaves it and ends with the error,
    /// its commit and mirror try it again (the job is not paused, so the retry is immediate).
    /// </summary>
    protected virtual bool IgnoreRetries => false;

    public override void UserResume(Job job) => IoStatus = IoStatus.Ok;

    public override async ValueTask CleanAsync(Job job)
    {
        foreach (var node in _blocked)
        {
            node.RemoveBlocker(BlockerReason);
        }
        _blocked.Clear();
        var users = _users.ToList();
        _users.Clear();
        foreach (var user in users)
        {
            // A plain user is the job's BlockBackend: qsd's blk_unref drains its node twice
            // (blk_drain, then blk_remove_bs), so other jobs above it pause and resume twice.
            if (!user.IsJobChild && user.Root is { } edge)
            {
                await Graph.DrainJobsAsync(edge.Node, times: 2).ConfigureAwait(false);
            }
            // The job may hold the last reference to a node nobody owns (the blockdev-snapshot-sync
            // overlay an active commit just folded away): it closes now, as in QEMU.
            await Graph.ReleaseUserAsync(user).ConfigureAwait(false);
        }
    }

    public override void OnPending(Job job) => Events.Pending(Type.ToQapi(), job.Id!);

    public override void OnReady(Job job) => Events.Ready(Snapshot(job));

    public override void OnFinalized(Job job, bool cancelled)
    {
        if (cancelled)
        {
            Events.Cancelled(Snapshot(job));
        }
        else
        {
            Events.Completed(Snapshot(job), job.Error);
        }
    }

    public BlockJobSnapshot Snapshot(Job job) => new(Type.ToQapi(), job.Id!, job.Progress.Total, job.Progress.Current, job.Speed);

    // ICopyJob: what the copy engine asks of the job.
    bool ICopyJob.PauseRequested => Job.PauseCount > 0;

    ValueTask ICopyJob.PausePointAsync() => Job.PausePointAsync();

    ValueTask<bool> ICopyJob.SleepAsync(TimeSpan delay, CancellationToken ct) => Job.SleepAsync(delay, ct);

    void ICopyJob.ReportProgress(long bytes) => Job.Progress.Update(bytes);

    void ICopyJob.SetTotal(long bytes) => Job.Progress.SetRemaining(bytes);

    async ValueTask<CopyErrorAction> ICopyJob.OnErrorAsync(CopyOperation operation, Exception error)
    {
        if (error is not BlockException blockError)
        {
            return CopyErrorAction.Fail;
        }
        await Job.StartReplySent.ConfigureAwait(false);
        var (action, resumed) = await Job.OnControlLoopAsync(() =>
        {
            var chosen = ErrorAction(operation == CopyOperation.Read, ErrnoOf(blockError));
            var paused = chosen == BlockErrorAction.Stop ? Job.EnterPauseForError() : Task.CompletedTask;
            return Task.FromResult((chosen, paused));
        }).ConfigureAwait(false);
        await resumed.ConfigureAwait(false);
        return action switch
        {
            BlockErrorAction.Ignore => IgnoreRetries ? CopyErrorAction.Retry : CopyErrorAction.Ignore,
            BlockErrorAction.Stop => CopyErrorAction.Retry,
            _ => CopyErrorAction.Fail,
        };
    }

    /// <summary>The policy for a failed read or write (mirror has one per side).</summary>
    protected virtual OnErrorPolicy PolicyFor(bool read) => OnError;

    // block_job_error_action, on the control loop.
    private BlockErrorAction ErrorAction(bool read, int errno)
    {
        var action = PolicyFor(read) switch
        {
            OnErrorPolicy.Ignore => BlockErrorAction.Ignore,
            OnErrorPolicy.Stop => BlockErrorAction.Stop,
            OnErrorPolicy.Report => BlockErrorAction.Report,
            _ => errno == NoSpaceErrno ? BlockErrorAction.Stop : BlockErrorAction.Report,
        };
        if (action == BlockErrorAction.Stop)
        {
            Job.PauseForError();
            if (IoStatus == IoStatus.Ok)
            {
                IoStatus = errno == NoSpaceErrno ? IoStatus.NoSpace : IoStatus.Failed;
            }
        }
        Events.Error(Job.Id!, read, action);
        return action;
    }

    private const int NoSpaceErrno = 28;

    private static int ErrnoOf(BlockException e) => e.Errno != 0 ? e.Errno : e.Kind switch
    {
        BlockErrorKind.NoSpace => NoSpaceErrno,
        BlockErrorKind.ReadOnly => Errno.EPerm,
        BlockErrorKind.OutOfRange => Errno.EInval,
        _ => Errno.EIo,
    };
}
