using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Jobs;
using BlockDaemon.Jobs.BlockJobs;
using BlockDaemon.Jobs.Copy;

namespace BlockDaemon.Jobs.Stream;

/// <summary>
/// block-stream: copies into <see cref="Top"/> everything it reads from the layers between it and
/// <see cref="Base"/>, then makes <see cref="Base"/> its backing file. The copied data and the
/// metadata that maps it are flushed before the header names the new backing file, so a crash
/// at any point leaves an image that reads the same (qsd 7.2 loses data there).
/// </summary>
public sealed class StreamJob : BlockJob
{
    // QEMU's STREAM_CHUNK: progress moves in the same steps as qsd's.
    private static readonly CopyOptions Chunks = new() { ChunkSize = 512 << 10 };
    private BlockChild? _top;
    private bool _restoreReadOnly;

    public StreamJob(BlockGraph graph, IBlockJobEvents events, OnErrorPolicy onError, BlockNode top, BlockNode? baseNode, string? backingFile)
        : base(graph, events, onError)
    {
        Top = top;
        Base = baseNode;
        BackingFile = backingFile;
    }

    public override JobType Type => JobType.Stream;

    public BlockNode Top { get; }

    public BlockNode? Base { get; }

    /// <summary>The name to record in the header instead of the base's file name.</summary>
    public string? BackingFile { get; }

    /// <summary>The ways the job would conflict with others, checked before anything is created (qsd's order).</summary>
    public static void CheckChainFree(BlockNode top, BlockNode? baseNode)
    {
        for (var node = top; node is not null && node != baseNode; node = BlockGraph.BackingOf(node))
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
        _top = Use(Top, BlockPermissions.ConsistentRead | BlockPermissions.WriteUnchanged, BlockPermissions.All);
        for (var node = Top; node is not null && node != Base; node = BlockGraph.BackingOf(node))
        {
            Block(node);
        }
    }

    protected override async ValueTask RunCoreAsync(Job job, CancellationToken ct)
    {
        var top = _top ?? throw new InvalidOperationException("Acquire was not called");
        var engine = new CopyEngine(top, top, PlanAsync, Chunks);
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
        if (BlockGraph.BackingOf(Top) == Base)
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
                throw BlockException.Invalid(
                    $"Cannot record the backing file of '{Top.NodeName}' as '{name}': give 'backing-file' with a plain file name");
            }
        }
        await _top!.FlushAsync().ConfigureAwait(false);
        await link.WriteBackingFileAsync(name, format, default).ConfigureAwait(false);
        await Graph.ReplaceBackingAsync(Top, Base).ConfigureAwait(false);
    }

    public override async ValueTask CleanAsync(Job job)
    {
        await base.CleanAsync(job).ConfigureAwait(false);
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
