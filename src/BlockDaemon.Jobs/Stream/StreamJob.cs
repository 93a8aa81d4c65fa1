using BlockDaemon.Core.Drivers.CopyOnRead;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Jobs;
using BlockDaemon.Core.Options;
using BlockDaemon.Jobs.BlockJobs;
using BlockDaemon.Jobs.Copy;

namespace BlockDaemon.Jobs.Stream;

/// <summary>
/// block-stream: copies into <see cref="Top"/> everything it reads from the layers between it and
/// <see cref="Base"/>, then makes <see cref="Base"/> its backing file. The copied data and the
/// metadata that maps it are flushed before the header names the new backing file, so a crash
/// at any point leaves an image that reads the same (qsd 7.2 loses data there). As in qsd, a
/// copy-on-read filter sits above <see cref="Top"/> for the job's life: the job copies by reading
/// through it, and guest reads through it populate the image too.
/// </summary>
public sealed class StreamJob : BlockJob
{
    // QEMU's STREAM_CHUNK: progress moves in the same steps as qsd's.
    private static readonly CopyOptions Chunks = new() { ChunkSize = 512 << 10, ReadCopies = true };
    private BlockChild? _top;
    private BlockChild? _source;
    private bool _restoreReadOnly;

    // stream_start's basic_flags: what the job lets others do with the nodes it reads.
    private const BlockPermissions Unchanged = BlockPermissions.ConsistentRead | BlockPermissions.WriteUnchanged;

    public StreamJob(BlockGraph graph, IBlockJobEvents events, OnErrorPolicy onError, BlockNode top, BlockNode? baseNode, string? backingFile)
        : base(graph, events, onError)
    {
        Top = top;
        Base = baseNode;
        BackingFile = backingFile;
    }

    /// <summary>The copy-on-read node above <see cref="Top"/>, once <see cref="InsertFilterAsync"/> put it there.</summary>
    public BlockNode? Filter { get; private set; }

    /// <summary>
    /// The lowest node whose data is copied (qsd's base_overlay, the filter's "bottom"): the one
    /// right above <paramref name="baseNode"/>, or the end of the chain; top itself when it has no backing.
    /// </summary>
    public static BlockNode BottomOf(BlockNode top, BlockNode? baseNode)
    {
        var bottom = top;
        while (BlockGraph.BackingOf(bottom) is { } below && below != baseNode)
        {
            bottom = below;
        }
        return bottom;
    }

    /// <summary>
    /// stream_start's bdrv_insert_node: the copy-on-read filter goes above <see cref="Top"/>, named
    /// <paramref name="filterNodeName"/> or automatically (implicit), and takes over every parent
    /// of <see cref="Top"/> but the job's own: users, and the backing link of an image above, so
    /// that image's reads copy into <see cref="Top"/> too. The filter's bottom freezes the chain
    /// from <see cref="Top"/> down to the bottom until the filter leaves (qsd 7.2's stream leaves
    /// that hold to its copy-on-read filter, so a stretch another holder froze is refused there).
    /// </summary>
    public async ValueTask InsertFilterAsync(string? filterNodeName)
    {
        var options = new OptionDict();
        options.Set("driver", "copy-on-read");
        if (filterNodeName is not null)
        {
            options.Set("node-name", filterNodeName);
        }
        options.Set("file", Top.NodeName);
        options.Set("bottom", BottomOf(Top, Base).NodeName);
        Filter = await Graph.InsertFilterAsync(options, Top, moves: e => e.Parent is BlockNode or BlockUser { IsJobChild: false },
            openErrorPrefix: "Could not create node: ").ConfigureAwait(false);
        ((CopyOnReadDriver)Filter.Driver).WriteBehind = true;
    }

    /// <summary>stream_clean's bdrv_cor_filter_drop (also for a job that never started).</summary>
    public async ValueTask RemoveFilterAsync()
    {
        if (Filter is { } filter && Graph.FindNode(filter.NodeName) == filter)
        {
            await Graph.RemoveFilterAsync(filter).ConfigureAwait(false);
        }
        Filter = null;
    }

    public override JobType Type => JobType.Stream;

    public BlockNode Top { get; }

    public BlockNode? Base { get; }

    /// <summary>The name to record in the header instead of the base's file name.</summary>
    public string? BackingFile { get; }

    /// <summary>The ways the job would conflict with others, checked before anything is created (qsd's order).</summary>
    public static void CheckChainFree(BlockNode top, BlockNode? baseNode)
    {
        for (var node = top; node is not null && node != baseNode; node = BlockGraph.ChainNextOf(node))
        {
            node.CheckNotBlocked();
        }
    }

    /// <summary>
    /// Streaming into an intermediate image writes a node opened read-only: it becomes read-write
    /// for the job's life (QEMU reopens it the same way), before the job exists.
    /// </summary>
    public async ValueTask OpenForWriteAsync()
    {
        if (Top.ReadOnly)
        {
            await Graph.SetReadOnlyAsync(Top, readOnly: false).ConfigureAwait(false);
            _restoreReadOnly = true;
        }
    }

    /// <summary>Takes the job's edge and blockers; a failure here fails the job before it starts.</summary>
    public void Acquire()
    {
        if (Top.Driver is not IBackingLink)
        {
            throw new BlockException(BlockErrorKind.NotSupported, $"Node '{Top.NodeName}' has no backing file to stream from");
        }
        var filter = Filter ?? throw new InvalidOperationException("The copy-on-read filter was not inserted");
        // stream_start: the job holds the filter as its main node, does its I/O through a device on
        // it that shares no resize (the length is taken once), keeps the top from being resized,
        // and lets nobody write the nodes below, whose data it copies once.
        _top = UseNamed(Top, "active node", BlockPermissions.None, Unchanged | BlockPermissions.Write);
        _source = Use(filter, BlockPermissions.ConsistentRead, Unchanged | BlockPermissions.Write);
        Use(filter, BlockPermissions.None, BlockPermissions.All, jobChild: true);
        Block(filter);
        Block(Top);
        for (var node = BlockGraph.ChainNextOf(Top); node is not null && node != Base; node = BlockGraph.ChainNextOf(node))
        {
            UseNamed(node, "intermediate node", BlockPermissions.None, Unchanged);
            Block(node);
        }
    }

    protected override async ValueTask RunCoreAsync(Job job, CancellationToken ct)
    {
        var source = _source ?? throw new InvalidOperationException("Acquire was not called");
        if (BlockGraph.BackingOf(Top) == Base)
        {
            // Nothing lies between the top and the base: like qsd's stream_run, finish at once
            // with nothing to do (len 0), before the command's reply.
            return;
        }
        var engine = new CopyEngine(source, source, PlanAsync, Chunks);
        await engine.RunAsync(this, 0, Top.Length, ct).ConfigureAwait(false);
    }

    // Allocated in the top already: nothing to do. Allocated below, above the base: pull it up.
    private async ValueTask<CopyExtent> PlanAsync(long offset, long length, CancellationToken ct)
    {
        var top = _top!;
        var own = await top.BlockStatusAsync(offset, length, ct).ConfigureAwait(false);
        if ((own.Flags & BlockStatusFlags.Allocated) != 0)
        {
            return new CopyExtent(own.Length, CopyAction.Skip);
        }
        if ((Top.Driver as IBackingLink)?.Backing is not { } backing)
        {
            return new CopyExtent(own.Length, CopyAction.Skip);
        }
        var below = await ChainStatus.AllocatedAboveAsync(backing, Base, offset, own.Length, ct).ConfigureAwait(false);
        var action = !below.Allocated ? CopyAction.Skip : below.Zero ? CopyAction.Zero : CopyAction.Copy;
        return new CopyExtent(below.Length, action);
    }

    /// <summary>
    /// stream_prepare: make the copy durable, then record the base in the header, then switch the
    /// link in memory (which closes the layers nobody else uses).
    /// </summary>
    public override async ValueTask PrepareAsync(Job job)
    {
        var below = BlockGraph.BackingOf(Top);
        if (below is null)
        {
            return;
        }
        var link = (IBackingLink)Top.Driver;
        string? name = null;
        string? format = null;
        if (Base is not null)
        {
            name = BackingFile ?? Base.Driver.DisplayName;
            format = Base.DriverName;
            if (name.StartsWith("json:", StringComparison.Ordinal))
            {
                if (below == Base)
                {
                    // Nothing was streamed: keep the recorded name rather than fail for it.
                    return;
                }
                throw BlockException.Invalid(
                    $"Cannot record the backing file of '{Top.NodeName}' as '{name}': give 'backing-file' with a plain file name");
            }
        }
        // Like qsd's stream_prepare, the name is recorded even when the base was already the
        // backing node (a stream with nothing to do): it then names the base as opened.
        await _top!.FlushAsync().ConfigureAwait(false);
        await link.WriteBackingFileAsync(name, format, default).ConfigureAwait(false);
        if (below != Base)
        {
            await Graph.ReplaceBackingAsync(Top, Base).ConfigureAwait(false);
        }
    }

    public override async ValueTask CleanAsync(Job job)
    {
        await base.CleanAsync(job).ConfigureAwait(false);
        await RemoveFilterAsync().ConfigureAwait(false);
        await RestoreReadOnlyAsync().ConfigureAwait(false);
    }

    /// <summary>Gives an intermediate image back its read-only mode (also when the job never started).</summary>
    public async ValueTask RestoreReadOnlyAsync()
    {
        if (_restoreReadOnly && Graph.FindNode(Top.NodeName) == Top)
        {
            _restoreReadOnly = false;
            await Graph.SetReadOnlyAsync(Top, readOnly: true).ConfigureAwait(false);
        }
    }
}
