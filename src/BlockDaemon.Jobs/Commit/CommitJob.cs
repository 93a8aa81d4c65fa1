using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Jobs;
using BlockDaemon.Core.Options;
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
/// An intermediate commit puts a commit_top filter between the image above top and top for the
/// job's life, as qsd does (active commit's mirror_top is the mirror's business). The chain links
/// from that filter (or mirror_top) down to base are frozen until the job's prepare or end.
/// </summary>
public sealed class CommitJob : BlockJob
{
    private const int Granularity = 64 << 10;
    // QEMU's COMMIT_BUFFER_SIZE: progress moves in qsd's steps.
    private static readonly CopyOptions Chunks = new() { ChunkSize = 512 << 10 };
    private readonly List<BlockNode> _restoreReadOnly = [];
    private BlockChild? _top;
    private BlockChild? _base;
    private LiveCopy? _live;
    private bool _pivoted;
    private IReadOnlyList<BlockChild>? _frozen;

    public CommitJob(BlockGraph graph, IBlockJobEvents events, OnErrorPolicy onError, BlockNode device, BlockNode top, BlockNode baseNode, string? backingFile,
        BlockNode? activeFilter = null)
        : base(graph, events, onError)
    {
        ActiveFilter = activeFilter;
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

    /// <summary>For an active commit: the mirror_top node above top (qsd's commit_active_start uses mirror's), removed when the job ends.</summary>
    public BlockNode? ActiveFilter { get; }

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

    /// <summary>The commit_top node above <see cref="Top"/> (intermediate commit), once inserted.</summary>
    public BlockNode? Filter { get; private set; }

    /// <summary>The job's set-up: its holds, then (intermediate commit) the commit_top filter.</summary>
    public async ValueTask AcquireAsync(string? filterNodeName)
    {
        Acquire();
        if (IsActive)
        {
            return;
        }
        var options = new OptionDict();
        options.Set("driver", "commit_top");
        if (filterNodeName is not null)
        {
            options.Set("node-name", filterNodeName);
        }
        options.Set("backing", Top.NodeName);
        // qsd opens commit_top with no flags: read-only.
        options.Set("read-only", true);
        var overlay = Overlay!;
        Filter = await Graph.InsertFilterAsync(options, Top, "backing", moves: e => e.Parent == overlay && e.Role == "backing").ConfigureAwait(false);
        // commit_start: the chain from the filter down to base stays as it is for the job's life.
        _frozen = BlockGraph.FreezeChainChecked(Filter, Base);
    }

    // Before the job's own graph change (commit_prepare, mirror_exit_common) or its end.
    private void UnfreezeChain()
    {
        if (_frozen is { } links)
        {
            _frozen = null;
            BlockGraph.Unfreeze(links);
        }
    }

    private async ValueTask RemoveFilterAsync()
    {
        if (Filter is { } filter && Graph.FindNode(filter.NodeName) == filter)
        {
            await Graph.RemoveFilterAsync(filter).ConfigureAwait(false);
        }
        Filter = null;
    }

    public void Acquire()
    {
        // An active commit reads down the chain through filters (a device that is a filter over
        // the image is committed as qsd does); an intermediate one rewrites the overlay's link.
        if (Overlay is not null && Overlay.Driver is not IBackingLink)
        {
            throw new BlockException(BlockErrorKind.NotSupported, $"Node '{Overlay.NodeName}' has no backing file link");
        }
        // qsd reads an active top through its mirror_top filter (so top is a job child), an
        // intermediate one through a device of the job's own.
        // An active commit's hold (mirror's "source" child) takes no permission: qsd's commit
        // cannot have consistent-read above base (bdrv_mirror_top_child_perm drops it too).
        _top = Use(Top, IsActive ? BlockPermissions.None : BlockPermissions.ConsistentRead, BlockPermissions.All, jobChild: IsActive);
        if (Overlay is not null)
        {
            Use(Overlay, BlockPermissions.None, BlockPermissions.All, jobChild: true);
        }
        _base = IsActive
            // mirror_start_job's target of an active commit: write, resize only when base is the
            // smaller, and resize not shared; so an export on base (left there by an earlier
            // pivot) does not conflict with the job.
            ? Use(Base, Base.Length < Top.Length ? BlockPermissions.Write | BlockPermissions.Resize : BlockPermissions.Write,
                BlockPermissions.All & ~BlockPermissions.Resize)
            : Use(Base, BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.Resize, BlockPermissions.All);
        for (var node = Device; node is not null; node = BlockGraph.ChainNextOf(node))
        {
            Block(node);
            if (node == Base)
            {
                break;
            }
        }
        if (IsActive)
        {
            if (ActiveFilter is not null)
            {
                Use(ActiveFilter, BlockPermissions.ConsistentRead,
                    BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.WriteUnchanged, jobChild: true);
                Block(ActiveFilter);
            }
            // mirror_start_job with base as target: mirror_top's chain down to base is frozen.
            _frozen = BlockGraph.FreezeChainChecked(ActiveFilter ?? Top, Base);
            _live = new LiveCopy(this, Top, _top, _base, Granularity, Chunks, filter: ActiveFilter);
            _live.Track();
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
        // Active: what is allocated above base goes into the same bitmap as guest writes.
        await _live!.MarkAsync(PlanAsync, length, ct).ConfigureAwait(false);
        await _live.RunAsync(ct).ConfigureAwait(false);
    }

    // Data allocated in top or below it, above base, goes down; the rest is base's already.
    private async ValueTask<CopyExtent> PlanAsync(long offset, long length, CancellationToken ct)
    {
        var status = await ChainStatus.AllocatedAboveAsync(_top!, Base, offset, length, ct).ConfigureAwait(false);
        var action = !status.Allocated ? CopyAction.Skip : status.Zero ? CopyAction.Zero : CopyAction.Copy;
        return new CopyExtent(status.Length, action);
    }

    public override void Complete(Job job) => _live?.Complete();

    public override ValueTask AfterVerbAsync(Job job) => _live?.WaitOthersPausedAsync() ?? ValueTask.CompletedTask;

    /// <summary>Only a forced cancel (or one before READY) aborts; a soft one when READY ends the job without a pivot.</summary>
    public override bool Cancel(Job job, bool force) => _live?.Cancel(force) ?? true;

    public override async ValueTask PrepareAsync(Job job)
    {
        UnfreezeChain();
        if (IsActive)
        {
            // Complete and a soft cancel both leave base in sync; only complete moves top's users over.
            bool pivot = _live!.PivotWanted;
            await _live.FinishDrainedAsync(pivot ? Pivot : null).ConfigureAwait(false);
            _pivoted = pivot;
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
        // qsd's bdrv_drop_intermediate starts at commit_top: the filter leaves with top.
        await RemoveFilterAsync().ConfigureAwait(false);
        await Graph.ReplaceBackingAsync(Overlay, Base).ConfigureAwait(false);
    }

    // As for a mirror, the job's hold on base goes first (mirror_exit_common's blk_set_perm), or
    // the users moving onto base would conflict with the job's resize permission.
    private void Pivot()
    {
        Graph.SetPermissions(_base!, BlockPermissions.None, BlockPermissions.All);
        Graph.ReplaceNode(Top, Base, OwnsEdge);
    }

    public override async ValueTask CleanAsync(Job job)
    {
        _live?.Untrack();
        UnfreezeChain();
        await base.CleanAsync(job).ConfigureAwait(false);
        await RemoveFilterAsync().ConfigureAwait(false);
        if (ActiveFilter is not null && Graph.FindNode(ActiveFilter.NodeName) == ActiveFilter)
        {
            await Graph.RemoveFilterAsync(ActiveFilter).ConfigureAwait(false);
        }
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
        _live?.EndFinalDrain();
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
