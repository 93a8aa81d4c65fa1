using System.Text.Json.Nodes;
using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Jobs;
using BlockDaemon.Qcow2.Create;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// blockdev-create for qcow2, in qcow2_co_create's order: open the file reference, check the
/// options, open the data-file reference, take write and resize on both nodes, then format the
/// file in place without truncating it. A node name is looked up at once, still on the control
/// loop (so its errors conclude the job before the command's reply, as in qsd); an inline
/// definition is opened by the job on the control loop and closed after it.
/// </summary>
internal sealed class Qcow2CreateJob(BlockGraph graph, JsonObject options)
{
    private readonly List<BlockUser> _users = [];
    private readonly List<BlockNode> _inlineNodes = [];

    // Whether the job has awaited the control loop and so runs off it now.
    private bool _leftControlLoop;

    public CreateJobDriver CreateDriver() => new(RunAsync, CleanAsync);

    private async ValueTask RunAsync(Job job, CancellationToken ct)
    {
        var createOptions = Parse();
        var file = await OpenAsync(job, options["file"]!, ct).ConfigureAwait(false);
        Qcow2CreateValidation.Validate(createOptions);
        BlockNode? data = null;
        if (options["data-file"] is { } dataReference)
        {
            data = await OpenAsync(job, dataReference, ct).ConfigureAwait(false);
            // The header records the data file by the node's file name (bs->filename).
            createOptions = createOptions with { DataFile = NodeFilename.For(data) };
        }
        var (fileEdge, dataEdge) = await OnControlLoopAsync(job, () =>
            (Attach(file, BlockPermissions.All), data is null ? null : Attach(data, BlockPermissions.All & ~BlockPermissions.Resize))).ConfigureAwait(false);
        await Qcow2Creator.CreateAsync(fileEdge, dataEdge, createOptions, ct).ConfigureAwait(false);
    }

    private async ValueTask<BlockNode> OpenAsync(Job job, JsonNode reference, CancellationToken ct)
    {
        if (reference is JsonValue name)
        {
            return await OnControlLoopAsync(job, () => FindNode(name.GetValue<string>())).ConfigureAwait(false);
        }
        var definition = OptionConverter.ToOptions((JsonObject)reference);
        _leftControlLoop = true;
        return await job.OnControlLoopAsync(async () =>
        {
            var node = await graph.AddNodeAsync(definition, ct).ConfigureAwait(false);
            _inlineNodes.Add(node);
            return node;
        }).ConfigureAwait(false);
    }

    private async ValueTask<T> OnControlLoopAsync<T>(Job job, Func<T> work) =>
        _leftControlLoop ? await job.OnControlLoopAsync(() => Task.FromResult(work())).ConfigureAwait(false) : work();

    private BlockNode FindNode(string name) => graph.FindNode(name)
        ?? throw new BlockException(BlockErrorKind.NotFound, $"Cannot find device='{name}' nor node-name='{name}'");

    // The file is taken as qsd's BlockBackend takes it (sharing everything); the data file as
    // qcow2's data-file child takes it, without sharing resize, so that the same node as both
    // is a permission conflict, as in qsd.
    private BlockChild Attach(BlockNode node, BlockPermissions shared)
    {
        var user = graph.AttachUser(null, node, BlockPermissions.Write | BlockPermissions.Resize, shared);
        _users.Add(user);
        return user.Root!;
    }

    // On the control loop, after the job succeeded or failed.
    private async ValueTask CleanAsync()
    {
        foreach (var user in _users)
        {
            graph.DetachUser(user);
        }
        foreach (var node in _inlineNodes)
        {
            await graph.DeleteNodeAsync(node.NodeName).ConfigureAwait(false);
        }
    }

    private Qcow2CreateOptions Parse() => new()
    {
        Size = BlockdevCreateCommand.Uint64(options["size"]!),
        Version = options["version"]?.GetValue<string>() == "v2" ? 2 : 3,
        ClusterSize = options["cluster-size"] is { } cs ? ClusterSize(BlockdevCreateCommand.Uint64(cs)) : 65536,
        RefcountBits = options["refcount-bits"] is { } bits ? RefcountBits(bits.GetValue<long>()) : 16,
        LazyRefcounts = options["lazy-refcounts"]?.GetValue<bool>() ?? false,
        BackingFile = options["backing-file"]?.GetValue<string>(),
        BackingFormat = options["backing-fmt"]?.GetValue<string>(),
        Preallocation = BlockdevCreateCommand.Prealloc(options["preallocation"]) switch
        {
            PreallocMode.Off => Preallocation.Off,
            PreallocMode.Metadata => Preallocation.Metadata,
            PreallocMode.Falloc => Preallocation.Falloc,
            _ => Preallocation.Full,
        },
        ExtendedL2 = options["extended-l2"]?.GetValue<bool>() ?? false,
        CompressionType = options["compression-type"]?.GetValue<string>() == "zstd" ? CompressionType.Zstd : CompressionType.Zlib,
        // A placeholder until the node is open: validation only needs to know there is one.
        DataFile = options["data-file"] is null ? null : "",
        DataFileRaw = options["data-file-raw"]?.GetValue<bool>() ?? false,
        StartFromEmptyFile = false,
    };

    // Out-of-range values become ones the creator refuses with qsd's message.
    private static int ClusterSize(long size) => size is > 0 and <= int.MaxValue ? (int)size : 3;

    private static int RefcountBits(long bits) => bits is > 0 and <= 64 ? (int)bits : 3;
}
