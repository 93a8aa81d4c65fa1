using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Jobs;
using BlockDaemon.Jobs.BlockJobs;
using BlockDaemon.Jobs.Copy;

namespace BlockDaemon.Jobs.Mirror;

/// <summary>
/// drive-mirror / blockdev-mirror: a live copy of <see cref="Source"/> onto <see cref="Target"/>
/// (the engine is <see cref="LiveCopy"/>, shared with active commit). The bulk phase copies what
/// the sync mode asks for, guest writes are followed, the job goes READY, and job-complete moves
/// the users of <see cref="Replaced"/> (the source unless 'replaces' names another node) over to
/// the target. A soft cancel when READY leaves a consistent copy and the graph as it was.
/// </summary>
public sealed class MirrorJob : BlockJob
{
    private readonly MirrorOptions _options;
    private BlockChild? _source;
    private BlockChild? _target;
    private LiveCopy? _live;

    public MirrorJob(BlockGraph graph, IBlockJobEvents events, BlockNode source, BlockNode target, BlockNode replaced, MirrorOptions options,
        BlockNode? filter = null)
        : base(graph, events, OnErrorPolicy.Report)
    {
        Filter = filter;
        Source = source;
        Target = target;
        Replaced = replaced;
        _options = options;
        // sync=top of an image without a backing file is sync=full (qmp's blockdev_mirror_common).
        Base = options.Sync == MirrorSync.Top ? BlockGraph.BackingOf(source) : null;
    }

    public override JobType Type => JobType.Mirror;

    public BlockNode Source { get; }
    public BlockNode Target { get; }
    public BlockNode Replaced { get; }

    /// <summary>The mirror_top node above the source (removed when the job ends), if the caller inserted one.</summary>
    public BlockNode? Filter { get; }

    /// <summary>For sync=top: the first node whose data the target's own chain is trusted to hold.</summary>
    public BlockNode? Base { get; }

    public override bool CanComplete => true;

    public override bool CancelsInline => false;

    /// <summary>drive-mirror: on completion the target's backing becomes <see cref="TargetBacking"/> (QEMU's MIRROR_SOURCE_BACKING_CHAIN).</summary>
    public bool AttachBacking { get; init; }

    public BlockNode? TargetBacking { get; init; }

    /// <summary>drive-mirror opened the target: it closes with the job unless users moved onto it.</summary>
    public bool OwnsTarget { get; init; }

    protected override OnErrorPolicy PolicyFor(bool read) => read ? _options.OnSourceError : _options.OnTargetError;

    /// <summary>The target granularity qsd picks without 'granularity': the target's cluster size within [4 KiB, 64 KiB].</summary>
    public static int DefaultGranularity(BlockNode target) =>
        target.Driver is IImageInfoSource info && info.GetImageInfo().ClusterSize is int cluster and > 0
            ? Math.Clamp(cluster, 4096, 65536)
            : 65536;

    public void Acquire()
    {
        // The source keeps its users and writers; it may not be resized or have its graph changed
        // under the job (qsd's mirror_top filter and block_job_add_bdrv(source)).
        _source = Use(Source, BlockPermissions.ConsistentRead,
            BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.WriteUnchanged, jobChild: true);
        _target = Use(Target, BlockPermissions.Write, BlockPermissions.WriteUnchanged);
        if (Filter is not null)
        {
            // qsd's "main node": the job keeps its filter in the graph and reads consistently through it.
            Use(Filter, BlockPermissions.ConsistentRead,
                BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.WriteUnchanged, jobChild: true);
            Block(Filter);
        }
        Block(Source);
        Block(Target);
        int chunk = (int)Math.Clamp(_options.BufSize, _options.Granularity, 1 << 20);
        chunk = Math.Max(chunk, _options.Granularity);
        var chunks = new CopyOptions
        {
            ChunkSize = chunk,
            MaxInFlight = (int)Math.Clamp(_options.BufSize / chunk, 1, 16),
            ZeroWriteFlags = _options.Unmap ? WriteFlags.MayUnmap : WriteFlags.None,
            // A batch (buf-size) is at most MaxInFlight chunks: it goes out whole, as qsd's does.
            SettleAfterRange = true,
        };
        _live = new LiveCopy(this, Source, _source, _target, _options.Granularity, chunks, DirtyPlanAsync, _options.BufSize,
            Filter, _options.WriteBlocking);
        _live.Track();
    }

    protected override async ValueTask RunCoreAsync(Job job, CancellationToken ct)
    {
        // qsd checks the sizes inside the running job: the command's reply comes first, then the failure.
        await Task.Yield();
        long length = Source.Length;
        if (Target.Length != length)
        {
            throw BlockException.Invalid("Source and target image have different sizes");
        }
        switch (_options.Sync)
        {
            case MirrorSync.None:
                Job.Progress.SetRemaining(0);
                break;
            case MirrorSync.Full when BlockGraph.BackingOf(Target) is not null || (_options.ZeroTarget && !CanZeroTargetQuickly):
                // A target with a backing file, or one that may hold garbage and cannot be zeroed
                // cheaply, does not read as zeroes where the source is unallocated: everything is copied.
                _live!.MarkAll(length);
                break;
            case MirrorSync.Full when _options.ZeroTarget:
                // mirror_dirty_init: zero the whole target first, outside the job's progress, then
                // copy only what the source has allocated.
                await ZeroTargetAsync(length, ct).ConfigureAwait(false);
                await _live!.MarkAsync(BulkPlanAsync, length, ct).ConfigureAwait(false);
                break;
            default:
                await _live!.MarkAsync(BulkPlanAsync, length, ct).ConfigureAwait(false);
                break;
        }
        await _live!.RunAsync(ct).ConfigureAwait(false);
    }

    // bdrv_can_write_zeroes_with_unmap: the target was opened with discard=unmap and its driver
    // writes zeroes without writing data.
    private bool CanZeroTargetQuickly => Target.Common.DiscardUnmap && Target.Driver.Limits.SupportsWriteZeroes;

    private async ValueTask ZeroTargetAsync(long length, CancellationToken ct)
    {
        const long step = 1L << 30;
        for (long offset = 0; offset < length; offset += step)
        {
            await Job.PausePointAsync().ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            await _target!.WriteZeroesAsync(offset, Math.Min(step, length - offset), WriteFlags.MayUnmap, ct).ConfigureAwait(false);
        }
    }

    // The bulk phase copies what is allocated above base (the whole chain for sync=full).
    private async ValueTask<CopyExtent> BulkPlanAsync(long offset, long length, CancellationToken ct)
    {
        var status = await ChainStatus.AllocatedAboveAsync(_source!, Base, offset, length, ct).ConfigureAwait(false);
        return new CopyExtent(status.Length, status.Allocated ? CopyAction.Copy : CopyAction.Skip);
    }

    // A dirty range that reads as zeroes is written as zeroes, never read as data.
    private async ValueTask<CopyExtent> DirtyPlanAsync(long offset, long length, CancellationToken ct)
    {
        var status = await ChainStatus.AllocatedAboveAsync(_source!, null, offset, length, ct).ConfigureAwait(false);
        return new CopyExtent(status.Length, !status.Allocated || status.Zero ? CopyAction.Zero : CopyAction.Copy);
    }

    public override void Complete(Job job) => _live?.Complete();

    public override ValueTask AfterVerbAsync(Job job) => _live?.WaitOthersPausedAsync() ?? ValueTask.CompletedTask;

    public override bool Cancel(Job job, bool force) => _live?.Cancel(force) ?? true;

    public override async ValueTask PrepareAsync(Job job)
    {
        bool pivot = _live!.PivotWanted;
        if (pivot && AttachBacking && BlockGraph.BackingOf(Target) != TargetBacking)
        {
            await Graph.ReplaceBackingAsync(Target, TargetBacking).ConfigureAwait(false);
        }
        await _live.FinishDrainedAsync(pivot ? Pivot : null).ConfigureAwait(false);
    }

    // bdrv_replace_node(to_replace, target): every parent (exports, nodes reading it, the
    // mirror_top filter) moves; the job's own edges stay where they are. The job's hold on the
    // target is dropped first (mirror_exit_common's blk_set_perm), or the parents it receives
    // could not write to it.
    private void Pivot()
    {
        Graph.SetPermissions(_target!, BlockPermissions.None, BlockPermissions.All);
        Graph.ReplaceNode(Replaced, Target, OwnsEdge);
    }

    public override async ValueTask CleanAsync(Job job)
    {
        _live?.Untrack();
        await base.CleanAsync(job).ConfigureAwait(false);
        // The filter goes after the job's edges (mirror_exit_common): its parents return to the
        // node below it, the target after a pivot, the source otherwise.
        if (Filter is not null && Graph.FindNode(Filter.NodeName) == Filter)
        {
            await Graph.RemoveFilterAsync(Filter).ConfigureAwait(false);
        }
        if (OwnsTarget && Target.Parents.Count == 0 && Graph.FindNode(Target.NodeName) == Target)
        {
            await Graph.DiscardNodeAsync(Target).ConfigureAwait(false);
        }
        _live?.EndFinalDrain();
    }
}
