using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Jobs;
using BlockDaemon.Jobs.BlockJobs;
using BlockDaemon.Jobs.Copy;

namespace BlockDaemon.Jobs.Commit;

/// <summary>
/// block-commit: copies what <see cref="Top"/> and the layers down to <see cref="Base"/> hold
/// into <see cref="Base"/>.
/// <list type="bullet">
/// <item>Intermediate (top below the active layer): when done, base is flushed, then the image
/// above top names base in its header, then the link changes in memory.</item>
/// <item>Active (top is the device): guest writes to top during the job are tracked and copied
/// too; once everything is copied the job is READY. job-complete copies the last writes with top
/// drained and pivots top's users (exports) to base; a soft block-job-cancel when READY leaves
/// the chain as it is with base up to date.</item>
/// </list>
/// </summary>
public sealed class CommitJob : BlockJob
{
    private const int Granularity = 64 << 10;
    // QEMU's COMMIT_BUFFER_SIZE: progress moves in qsd's steps.
    private static readonly CopyOptions Chunks = new() { ChunkSize = 512 << 10 };
    private readonly List<BlockNode> _restoreReadOnly = [];
    private BlockChild? _top;
    private BlockChild? _base;
    private DirtyTracker? _dirty;
    private volatile bool _completeRequested;
    private volatile bool _softCancelled;
    private bool _pivoted;
    private long _counted;

    public CommitJob(BlockGraph graph, IBlockJobEvents events, OnErrorPolicy onError, BlockNode device, BlockNode top, BlockNode baseNode, string? backingFile)
        : base(graph, events, onError)
    {
        Device = device;
        Top = top;
        Base = baseNode;
        BackingFile = backingFile;
        Overlay = top == device ? null : FindOverlay(device, top);
    }

    public override JobType Type => JobType.Commit;

    public BlockNode Device { get; }
    public BlockNode Top { get; }
    public BlockNode Base { get; }
    public string? BackingFile { get; }

    /// <summary>The image whose backing file is <see cref="Top"/> (null for an active commit).</summary>
    public BlockNode? Overlay { get; }

    public bool IsActive => Overlay is null;

    public override bool CanComplete => IsActive;

    protected override bool IgnoreRetries => true;

    /// <summary>The node directly above <paramref name="node"/> in the chain starting at <paramref name="top"/>.</summary>
    public static BlockNode? FindOverlay(BlockNode top, BlockNode node)
    {
        for (var n = top; n is not null; n = BlockGraph.BackingOf(n))
        {
            if (BlockGraph.BackingOf(n) == node)
            {
                return n;
            }
        }
        return null;
    }

    /// <summary>Base and (for an intermediate commit) the overlay become writable before the job exists.</summary>
    public async ValueTask OpenForWriteAsync()
    {
        foreach (var node in Overlay is null ? new[] { Base } : [Base, Overlay])
        {
            if (node.ReadOnly)
            {
                await Graph.SetReadOnlyAsync(node, readOnly: false).ConfigureAwait(false);
                _restoreReadOnly.Add(node);
            }
        }
    }

    public void Acquire()
    {
        if ((Overlay ?? Top).Driver is not IBackingLink)
        {
            throw new BlockException(BlockErrorKind.NotSupported, $"Node '{(Overlay ?? Top).NodeName}' has no backing file link");
        }
        // qsd reads an active top through its mirror_top filter (so top is a job child), an
        // intermediate one through a device of the job's own.
        _top = Use(Top, BlockPermissions.ConsistentRead, BlockPermissions.All, jobChild: IsActive);
        if (Overlay is not null)
        {
            Use(Overlay, BlockPermissions.None, BlockPermissions.All, jobChild: true);
        }
        _base = Use(Base, BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.Resize, BlockPermissions.All);
        for (var node = Device; node is not null; node = BlockGraph.BackingOf(node))
        {
            Block(node);
            if (node == Base)
            {
                break;
            }
        }
        if (IsActive)
        {
            _dirty = new DirtyTracker(Top.Length, Granularity);
            Top.AddWriteObserver(_dirty);
        }
    }

    protected override async ValueTask RunCoreAsync(Job job, CancellationToken ct)
    {
        var top = _top!;
        var baseEdge = _base!;
        long length = Top.Length;
        if (Base.Length < length)
        {
            await baseEdge.TruncateAsync(length, ct).ConfigureAwait(false);
        }
        if (!IsActive)
        {
            var engine = new CopyEngine(top, baseEdge, PlanAsync, Chunks);
            await engine.RunAsync(this, 0, length, ct).ConfigureAwait(false);
            return;
        }
        // Active: what is allocated above base goes into the same bitmap as guest writes, and
        // the job's length is those bytes (qsd's mirror counts only what it has to copy).
        for (long offset = 0; offset < length;)
        {
            var extent = await PlanAsync(offset, length - offset, ct).ConfigureAwait(false);
            if (extent.Action != CopyAction.Skip)
            {
                _dirty!.Written(offset, extent.Length);
            }
            offset += Math.Max(1, extent.Length);
        }
        _counted = _dirty!.DirtyBytes;
        Job.Progress.SetRemaining(_counted);
        bool ready = false;
        while (true)
        {
            var changed = _dirty!.Changed;
            await CopyDirtyAsync(ct).ConfigureAwait(false);
            // As qsd's mirror: base is durable before READY, and a failed flush goes through the
            // on-error policy as a write error of the run, not of the pivot.
            if (!ready && !await FlushBaseAsync().ConfigureAwait(false))
            {
                continue;
            }
            if (!ready)
            {
                await Job.OnControlLoopAsync(() =>
                {
                    Job.TransitionToReady();
                    return Task.FromResult(true);
                }).ConfigureAwait(false);
                ready = true;
            }
            if (_softCancelled)
            {
                return;
            }
            if (_completeRequested)
            {
                if (await CopyLastWritesAsync().ConfigureAwait(false))
                {
                    return;
                }
                continue;
            }
            if (Job.PauseCount > 0)
            {
                await Job.PausePointAsync().ConfigureAwait(false);
                continue;
            }
            // Idle until a guest write, complete or cancel; a pause is served inside the sleep.
            await Job.SleepAsync(TimeSpan.FromMilliseconds(100), ct, changed).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        }
    }

    // Data allocated in top or below it, above base, goes down; the rest is base's already.
    private async ValueTask<CopyExtent> PlanAsync(long offset, long length, CancellationToken ct)
    {
        var status = await ChainStatus.AllocatedAboveAsync(_top!, Base, offset, length, ct).ConfigureAwait(false);
        var action = !status.Allocated ? CopyAction.Skip : status.Zero ? CopyAction.Zero : CopyAction.Copy;
        return new CopyExtent(status.Length, action);
    }

    private async ValueTask CopyDirtyAsync(CancellationToken ct)
    {
        while (_dirty!.TakeRun(0, 64L << 20) is { } run)
        {
            // Bytes counted in the total up front are used up first; later writes grow it.
            long counted = Math.Min(_counted, run.Length);
            _counted -= counted;
            Job.Progress.IncreaseRemaining(run.Length - counted);
            var engine = new CopyEngine(_top!, _base!, (_, n, _) => ValueTask.FromResult(new CopyExtent(n, CopyAction.Copy)), Chunks);
            await engine.RunAsync(this, run.Offset, run.Offset + run.Length, ct, setTotal: false).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The last copy and flush before the pivot, with top drained, while the job still runs, so a
    /// failure is the job's error (BLOCK_JOB_ERROR, on-error policy) and leaves top in use.
    /// </summary>
    private async ValueTask<bool> CopyLastWritesAsync()
    {
        await Top.Requests.DrainAsync().ConfigureAwait(false);
        try
        {
            await CopyDirtyDrainedAsync().ConfigureAwait(false);
        }
        finally
        {
            Top.Requests.EndDrain();
        }
        return await FlushBaseAsync().ConfigureAwait(false);
    }

    // False when the flush failed and the policy was ignore or stop (then resumed): the caller
    // goes round again, as qsd's mirror does after a failed mirror_flush.
    private async ValueTask<bool> FlushBaseAsync()
    {
        try
        {
            await _base!.FlushAsync().ConfigureAwait(false);
            return true;
        }
        catch (BlockException e)
        {
            var action = await ((ICopyJob)this).OnErrorAsync(CopyOperation.Write, e).ConfigureAwait(false);
            if (action == CopyErrorAction.Fail)
            {
                throw;
            }
            if (action == CopyErrorAction.Retry)
            {
                await Job.PausePointAsync().ConfigureAwait(false);
            }
            return false;
        }
    }

    private async ValueTask CopyDirtyDrainedAsync()
    {
        while (_dirty!.TakeRun(0, 1 << 20) is { } run)
        {
            using var buffer = AlignedBufferPool.Rent((int)run.Length);
            var memory = buffer.Memory[..(int)run.Length];
            // The node is drained, so the driver is read directly (the edge would wait for the drain).
            await Top.Driver.ReadAsync(run.Offset, memory, default).ConfigureAwait(false);
            await _base!.WriteAsync(run.Offset, memory).ConfigureAwait(false);
            Job.Progress.IncreaseRemaining(run.Length);
            Job.Progress.Update(run.Length);
        }
    }

    public override void Complete(Job job)
    {
        _completeRequested = true;
        _dirty?.Wake();
    }

    /// <summary>Only a forced cancel (or one before READY) aborts; a soft one when READY ends the job without a pivot.</summary>
    public override bool Cancel(Job job, bool force)
    {
        if (force || !job.IsReady)
        {
            return true;
        }
        _softCancelled = true;
        _dirty?.Wake();
        return false;
    }

    public override async ValueTask PrepareAsync(Job job)
    {
        if (IsActive)
        {
            if (_completeRequested && !_softCancelled)
            {
                await PivotAsync().ConfigureAwait(false);
            }
            return;
        }
        string name = BackingFile ?? Base.Driver.DisplayName;
        if (name.StartsWith("json:", StringComparison.Ordinal))
        {
            throw BlockException.Invalid(
                $"Cannot record the backing file of '{Overlay!.NodeName}' as '{name}': give 'backing-file' with a plain file name");
        }
        // Base's new data and its mappings are durable before anything points past top.
        await _base!.FlushAsync().ConfigureAwait(false);
        await ((IBackingLink)Overlay!.Driver).WriteBackingFileAsync(name, Base.DriverName, default).ConfigureAwait(false);
        await Graph.ReplaceBackingAsync(Overlay, Base).ConfigureAwait(false);
    }

    // With top drained no guest write can land: copy what the last ones left, make base durable,
    // and move top's users over to base.
    private async ValueTask PivotAsync()
    {
        await Top.Requests.DrainAsync().ConfigureAwait(false);
        try
        {
            // Writes that came after the run's last copy (normally none).
            await CopyDirtyDrainedAsync().ConfigureAwait(false);
            await _base!.FlushAsync().ConfigureAwait(false);
            // The job's own hold on base (write, resize) would stand in the way of its new users.
            Release(_base);
            Graph.ReplaceNodeForUsers(Top, Base, edge => edge == _top);
            _pivoted = true;
        }
        finally
        {
            Top.Requests.EndDrain();
        }
    }

    public override async ValueTask CleanAsync(Job job)
    {
        if (_dirty is not null)
        {
            Top.RemoveWriteObserver(_dirty);
        }
        await base.CleanAsync(job).ConfigureAwait(false);
        foreach (var node in _restoreReadOnly)
        {
            // After a pivot base is the image in use: it stays writable.
            if ((_pivoted && node == Base) || Graph.FindNode(node.NodeName) != node)
            {
                continue;
            }
            await Graph.SetReadOnlyAsync(node, readOnly: true).ConfigureAwait(false);
        }
        _restoreReadOnly.Clear();
    }

    /// <summary>For a job that never started: give back what <see cref="OpenForWriteAsync"/> took.</summary>
    public async ValueTask RestoreReadOnlyAsync()
    {
        foreach (var node in _restoreReadOnly)
        {
            await Graph.SetReadOnlyAsync(node, readOnly: true).ConfigureAwait(false);
        }
        _restoreReadOnly.Clear();
    }
}
