using System.Text.Json.Nodes;
using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Options;
using BlockDaemon.Qmp.Transactions;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// drive-mirror: qmp_drive_mirror creates (or, with mode=existing, opens) the target image, then
/// starts the mirror as blockdev-mirror does. Unlike qsd, which checks most arguments only after
/// it has created the file (and so leaves a stray image behind on a bad granularity or job id),
/// every check that does not need the opened target runs before the file is touched.
/// </summary>
public static class DriveMirrorCommand
{
    internal static void Register(CommandRegistry registry) => registry.Add("drive-mirror", DriveMirror);

    private static async Task<JsonNode?> DriveMirror(CommandContext context, JsonObject arguments)
    {
        var graph = context.Graph;
        var bs = RootNodeLookup.Find(context, arguments["device"]!.GetValue<string>());
        bs.CheckNotBlocked();
        string path = arguments["target"]!.GetValue<string>();
        bool existing = arguments["mode"]?.GetValue<string>() == "existing";
        string? format = arguments["format"]?.GetValue<string>() ?? (existing ? null : bs.DriverName);
        string? nodeName = arguments["node-name"]?.GetValue<string>();
        var targetBacking = BlockGraph.BackingOf(bs);
        string sync = arguments["sync"]!.GetValue<string>();
        if (targetBacking is null && sync == "top")
        {
            sync = "full";
        }
        if (sync == "none")
        {
            targetBacking = bs;
        }
        if (arguments["replaces"] is not null && nodeName is null)
        {
            throw QmpException.Generic("a node-name must be provided when replacing a named node of the graph");
        }

        // Everything blockdev_mirror_common, mirror_start and job creation would refuse, checked now.
        var request = BlockdevMirrorCommand.ParseCommon(arguments) with { Sync = sync };
        BlockdevMirrorCommand.CheckBeforeTarget(context, arguments, bs, request);
        if (nodeName is not null)
        {
            if (graph.FindNode(nodeName) is not null || graph.Users.Any(u => u.Name == nodeName))
            {
                throw QmpException.Generic($"Duplicate nodes with node-name='{nodeName}'");
            }
            graph.CheckNewNodeName(nodeName);
        }
        bool withBacking = !(sync == "full" || targetBacking is null);
        DriveTarget.Check(graph, path, existing, format, withBacking ? targetBacking : null);
        bool zeroTarget = sync == "full" && existing;
        await DriveTarget.CreateAndUseAsync(graph, path, existing, format, bs.Length, withBacking ? targetBacking : null, (options, driver) =>
        {
            if (nodeName is not null)
            {
                options.Set("node-name", nodeName);
            }
            // BDRV_O_NO_BACKING: the mirror attaches the source's chain itself on completion.
            if (driver == "qcow2")
            {
                options.Set("backing", null);
            }
        }, async target =>
        {
            await BlockdevMirrorCommand.StartAsync(context, arguments, bs, target, request, new DriveMirrorTarget(targetBacking, zeroTarget))
                .ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);
        return null;
    }
}

/// <summary>What drive-mirror adds to a mirror: the backing to attach on completion and whether the target may hold old data.</summary>
internal sealed record DriveMirrorTarget(BlockNode? Backing, bool ZeroTarget);
