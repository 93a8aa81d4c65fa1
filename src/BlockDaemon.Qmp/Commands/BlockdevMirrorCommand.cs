using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Jobs.BlockJobs;
using BlockDaemon.Jobs.Mirror;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// blockdev-mirror, with qmp_blockdev_mirror's and blockdev_mirror_common's checks in their
/// order. As for block-commit, a missing job-id defaults to the device's node name. blockd has
/// no mirror_top filter node yet, so 'filter-node-name' and copy-mode 'write-blocking' are
/// refused rather than accepted without effect.
/// </summary>
public static class BlockdevMirrorCommand
{
    internal static void Register(CommandRegistry registry) => registry.Add("blockdev-mirror", BlockdevMirror);

    private static async Task<JsonNode?> BlockdevMirror(CommandContext context, JsonObject arguments)
    {
        string device = arguments["device"]!.GetValue<string>();
        var bs = RootNode(context, device);
        string targetName = arguments["target"]!.GetValue<string>();
        var target = BlockJobCommands.FindDevice(context, targetName);
        var request = ParseCommon(arguments);
        await StartAsync(context, arguments, bs, target, request).ConfigureAwait(false);
        return null;
    }

    /// <summary>qmp_get_root_bs: a node no other node uses.</summary>
    internal static BlockNode RootNode(CommandContext context, string device)
    {
        var bs = BlockJobCommands.FindDevice(context, device);
        if (bs.Parents.Any(p => p.Parent is BlockNode or BlockUser { IsJobChild: true }))
        {
            throw QmpException.Generic("Need a root block node");
        }
        return bs;
    }

    /// <summary>The mirror arguments both commands share, checked before anything is touched.</summary>
    internal static MirrorRequest ParseCommon(JsonObject arguments)
    {
        long granularity = arguments["granularity"]?.GetValue<long>() ?? 0;
        if (granularity != 0 && (granularity < 512 || granularity > 64L << 20))
        {
            throw QmpException.Generic("Parameter 'granularity' expects a value in range [512B, 64MB]");
        }
        if ((granularity & (granularity - 1)) != 0)
        {
            throw QmpException.Generic("Parameter 'granularity' expects a power of 2");
        }
        return new MirrorRequest(
            arguments["sync"]!.GetValue<string>(),
            (int)granularity,
            arguments["buf-size"]?.GetValue<long>() ?? 0,
            BlockJobEnumNames.ParseOnError(arguments["on-source-error"]?.GetValue<string>()),
            BlockJobEnumNames.ParseOnError(arguments["on-target-error"]?.GetValue<string>()),
            arguments["unmap"]?.GetValue<bool>() ?? true,
            arguments["replaces"]?.GetValue<string>(),
            arguments["filter-node-name"]?.GetValue<string>(),
            arguments["copy-mode"]?.GetValue<string>() ?? "background");
    }

    /// <summary>blockdev_mirror_common, mirror_start and mirror_start_job's checks, then the job.</summary>
    internal static async ValueTask StartAsync(CommandContext context, JsonObject arguments, BlockNode bs, BlockNode target, MirrorRequest request)
    {
        bs.CheckNotBlocked();
        target.CheckNotBlocked();
        string sync = request.Sync;
        if (sync == "top" && BlockGraph.BackingOf(bs) is null)
        {
            sync = "full";
        }
        var replaced = bs;
        if (request.Replaces is { } replaces)
        {
            replaced = context.Graph.FindNode(replaces)
                ?? throw QmpException.Generic($"Failed to find node with node-name='{replaces}'");
            replaced.CheckNotBlocked();
            if (replaced != bs)
            {
                throw QmpException.Generic(
                    $"Cannot replace '{replaces}' by a node mirrored from '{bs.NodeName}', because it cannot be guaranteed that doing so would not lead to an abrupt change of visible data");
            }
        }
        if (sync is "incremental" or "bitmap")
        {
            throw QmpException.Generic($"Sync mode '{sync}' not supported");
        }
        if (request.BufSize < 0)
        {
            throw QmpException.Generic("Invalid parameter 'buf-size'");
        }
        if (bs == target)
        {
            throw QmpException.Generic("Can't mirror node into itself");
        }
        if (request.FilterNodeName is not null)
        {
            throw QmpException.Generic("'filter-node-name' is not supported: blockd's mirror has no filter node");
        }
        if (request.CopyMode != "background")
        {
            throw QmpException.Generic($"copy-mode '{request.CopyMode}' is not supported by blockd");
        }
        var options = new MirrorOptions
        {
            Sync = sync switch { "top" => MirrorSync.Top, "none" => MirrorSync.None, _ => MirrorSync.Full },
            Granularity = request.Granularity != 0 ? request.Granularity : MirrorJob.DefaultGranularity(target),
            BufSize = request.BufSize != 0 ? request.BufSize : 16 << 20,
            OnSourceError = request.OnSourceError,
            OnTargetError = request.OnTargetError,
            Unmap = request.Unmap,
        };
        var driver = new MirrorJob(context.Graph, BlockJobCommands.EventsFor(context), bs, target, replaced, options);
        string jobId = arguments["job-id"]?.GetValue<string>() ?? bs.NodeName;
        await BlockJobCommands.StartAsync(context, jobId, driver, arguments, driver.Acquire).ConfigureAwait(false);
    }
}

/// <summary>The mirror arguments common to drive-mirror and blockdev-mirror.</summary>
internal sealed record MirrorRequest(
    string Sync, int Granularity, long BufSize, OnErrorPolicy OnSourceError, OnErrorPolicy OnTargetError, bool Unmap,
    string? Replaces, string? FilterNodeName, string CopyMode);
