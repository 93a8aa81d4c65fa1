using System.Text.Json.Nodes;
using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Jobs;
using BlockDaemon.Qcow2.Create;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// blockdev-create for qcow2, in qcow2_co_create's order: open the file reference (a node name
/// is looked up at once; an inline definition is opened for the job and closed after it), check
/// the options, take write and resize on the node, then format it in place without truncating.
/// </summary>
internal sealed class Qcow2CreateJob(BlockGraph graph, JsonObject options)
{
    private BlockUser? _user;
    private BlockNode? _inlineNode;

    public CreateJobDriver CreateDriver() => new(RunAsync, CleanAsync);

    private async ValueTask RunAsync(Job job, CancellationToken ct)
    {
        var createOptions = Parse();
        if (options["file"] is JsonValue name)
        {
            // Still on the control loop: the job has not awaited anything yet.
            string nodeName = name.GetValue<string>();
            var node = graph.FindNode(nodeName)
                ?? throw new BlockException(BlockErrorKind.NotFound, $"Cannot find device='{nodeName}' nor node-name='{nodeName}'");
            Attach(node, createOptions);
        }
        else
        {
            var definition = OptionConverter.ToOptions((JsonObject)options["file"]!);
            await job.OnControlLoopAsync(async () =>
            {
                _inlineNode = await graph.AddNodeAsync(definition, ct).ConfigureAwait(false);
                Attach(_inlineNode, createOptions);
                return true;
            }).ConfigureAwait(false);
        }
        await Qcow2Creator.CreateAsync(_user!.Root!, createOptions, ct).ConfigureAwait(false);
    }

    private void Attach(BlockNode node, Qcow2CreateOptions createOptions)
    {
        Qcow2Creator.Validate(createOptions);
        _user = graph.AttachUser(null, node, BlockPermissions.Write | BlockPermissions.Resize, BlockPermissions.All);
    }

    // On the control loop, after the job succeeded or failed.
    private async ValueTask CleanAsync()
    {
        if (_user is not null)
        {
            graph.DetachUser(_user);
        }
        if (_inlineNode is not null)
        {
            await graph.DeleteNodeAsync(_inlineNode.NodeName).ConfigureAwait(false);
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
        StartFromEmptyFile = false,
    };

    // Out-of-range values become ones the creator refuses with qsd's message.
    private static int ClusterSize(long size) => size is > 0 and <= int.MaxValue ? (int)size : 3;

    private static int RefcountBits(long bits) => bits is > 0 and <= 64 ? (int)bits : 3;
}
