using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Jobs.BlockJobs;
using BlockDaemon.Jobs.Mirror;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// blockdev-mirror, with qmp_blockdev_mirror's and blockdev_mirror_common's checks in their
/// order. As for block-commit, a missing job-id defaults to the device's node name. The job's
/// mirror_top filter is inserted above the source before the job exists, as mirror_start_job
/// does, so a bad 'filter-node-name' is refused before the job id is looked at.
/// </summary>
public static class BlockdevMirrorCommand
{
    internal static void Register(CommandRegistry registry) => registry.Add("blockdev-mirror", BlockdevMirror);

    private static async Task<JsonNode?> BlockdevMirror(CommandContext context, JsonObject arguments)
    {
        string device = arguments["device"]!.GetValue<string>();
        var bs = RootNodeLookup.Find(context, device);
        string targetName = arguments["target"]!.GetValue<string>();
        var target = BlockJobCommands.FindDevice(context, targetName);
        var request = ParseCommon(arguments);
        await StartAsync(context, arguments, bs, target, request).ConfigureAwait(false);
        return null;
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

    /// <summary>blockdev_mirror_common, mirror_start and mirror_start_job's checks in their order, then the job.</summary>
    internal static async ValueTask StartAsync(CommandContext context, JsonObject arguments, BlockNode bs, BlockNode target,
        MirrorRequest request, DriveMirrorTarget? drive = null)
    {
        bs.CheckNotBlocked();
        target.CheckNotBlocked();
        // bdrv_backing_attach's op blocker: a backing node is no mirror target (only an active
        // commit mirrors onto one, and freezes the chain down to it).
        if (target.BackingOverlay is { } overlay)
        {
            throw QmpException.Generic($"Node '{target.NodeName}' is busy: node is used as backing hd of '{overlay.NodeName}'");
        }
        // qmp_blockdev_mirror: a blockdev-mirror with sync=full treats the target as holding
        // garbage (decided before sync=top without a backing file turns into full).
        bool zeroTarget = drive?.ZeroTarget ?? request.Sync == "full";
        if (request.Sync == "top" && BlockGraph.BackingOf(bs) is null)
        {
            request = request with { Sync = "full" };
        }
        var replaced = CheckReplaces(context, bs, request);
        CheckModes(request);
        if (bs == target)
        {
            throw QmpException.Generic("Can't mirror node into itself");
        }
        var options = new MirrorOptions
        {
            Sync = request.Sync switch { "top" => MirrorSync.Top, "none" => MirrorSync.None, _ => MirrorSync.Full },
            Granularity = request.Granularity != 0 ? request.Granularity : MirrorJob.DefaultGranularity(target),
            BufSize = request.BufSize != 0 ? request.BufSize : 16 << 20,
            OnSourceError = request.OnSourceError,
            OnTargetError = request.OnTargetError,
            Unmap = request.Unmap,
            ZeroTarget = zeroTarget,
            WriteBlocking = request.CopyMode == "write-blocking",
        };
        var filter = await MirrorTopFilter.InsertAsync(context, bs, request.FilterNodeName).ConfigureAwait(false);
        try
        {
            var driver = new MirrorJob(context.Graph, BlockJobCommands.EventsFor(context), bs, target, replaced, options, filter)
            {
                AttachBacking = drive is not null,
                TargetBacking = drive?.Backing,
                OwnsTarget = drive is not null,
            };
            await BlockJobCommands.StartAsync(context, JobId(arguments, bs), driver, arguments, driver.Acquire).ConfigureAwait(false);
        }
        catch
        {
            await MirrorTopFilter.RemoveAsync(context, filter).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>drive-mirror: every refusal that does not need the target node, before the target file is made.</summary>
    internal static void CheckBeforeTarget(CommandContext context, JsonObject arguments, BlockNode bs, MirrorRequest request)
    {
        CheckReplaces(context, bs, request);
        CheckModes(request);
        if (request.FilterNodeName is { } filterNodeName)
        {
            try
            {
                context.Graph.CheckNewNodeName(filterNodeName);
            }
            catch (BlockException e)
            {
                throw QmpErrors.From(e);
            }
        }
        try
        {
            context.Jobs.CheckNewId(JobId(arguments, bs));
        }
        catch (BlockException e)
        {
            throw QmpErrors.From(e);
        }
        if (arguments["speed"]?.GetValue<long>() < 0)
        {
            throw QmpException.Generic("Parameter 'speed' expects a non-negative value");
        }
    }

    private static string JobId(JsonObject arguments, BlockNode bs) => arguments["job-id"]?.GetValue<string>() ?? bs.NodeName;

    // check_to_replace_node: blockd has no filter between a mirror source and the node it could replace.
    private static BlockNode CheckReplaces(CommandContext context, BlockNode bs, MirrorRequest request)
    {
        if (request.Replaces is not { } replaces)
        {
            return bs;
        }
        var replaced = context.Graph.FindNode(replaces)
            ?? throw QmpException.Generic($"Failed to find node with node-name='{replaces}'");
        replaced.CheckNotBlocked();
        if (replaced != bs)
        {
            throw QmpException.Generic(
                $"Cannot replace '{replaces}' by a node mirrored from '{bs.NodeName}', because it cannot be guaranteed that doing so would not lead to an abrupt change of visible data");
        }
        return replaced;
    }

    private static void CheckModes(MirrorRequest request)
    {
        if (request.Sync is "incremental" or "bitmap")
        {
            throw QmpException.Generic($"Sync mode '{request.Sync}' not supported");
        }
        if (request.BufSize < 0)
        {
            throw QmpException.Generic("Invalid parameter 'buf-size'");
        }
    }
}

/// <summary>The mirror arguments common to drive-mirror and blockdev-mirror.</summary>
internal sealed record MirrorRequest(
    string Sync, int Granularity, long BufSize, OnErrorPolicy OnSourceError, OnErrorPolicy OnTargetError, bool Unmap,
    string? Replaces, string? FilterNodeName, string CopyMode);
