using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Jobs.BlockJobs;
using BlockDaemon.Jobs.Commit;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// block-commit, with qmp_block_commit's checks in its order. As for block-stream, a missing
/// job-id defaults to the device's node name where qsd 7.2 refuses it.
/// </summary>
public static class BlockCommitCommand
{
    internal static void Register(CommandRegistry registry) => registry.Add("block-commit", BlockCommit);

    private static async Task<JsonNode?> BlockCommit(CommandContext context, JsonObject arguments)
    {
        string device = arguments["device"]!.GetValue<string>();
        string? topName = arguments["top"]?.GetValue<string>();
        string? topNodeName = arguments["top-node"]?.GetValue<string>();
        string? baseName = arguments["base"]?.GetValue<string>();
        string? baseNodeName = arguments["base-node"]?.GetValue<string>();
        string? backingFile = arguments["backing-file"]?.GetValue<string>();

        // qmp_block_commit turns qmp_get_root_bs's "not found" into DeviceNotFound.
        var bs = RootNodeLookup.Lookup(context, device)
            ?? throw new QmpException(QmpErrorClass.DeviceNotFound, $"Device '{device}' not found");
        RootNodeLookup.RequireRoot(bs);
        bs.CheckNotBlocked();

        var top = bs;
        if (topNodeName is not null && topName is not null)
        {
            throw QmpException.Generic("'top-node' and 'top' are mutually exclusive");
        }
        if (topNodeName is not null)
        {
            top = BlockJobCommands.FindNodeOnly(context, topNodeName);
            if (!ChainLookup.Contains(bs, top))
            {
                throw QmpException.Generic($"'{topNodeName}' is not in this backing file chain");
            }
        }
        else if (topName is not null)
        {
            top = (bs.Driver.DisplayName == topName ? bs : ChainLookup.FindBackingImage(bs, topName))
                ?? throw QmpException.Generic($"Top image file {topName} not found");
        }

        BlockNode? baseNode;
        if (baseNodeName is not null && baseName is not null)
        {
            throw QmpException.Generic("'base-node' and 'base' are mutually exclusive");
        }
        if (baseNodeName is not null)
        {
            baseNode = BlockJobCommands.FindNodeOnly(context, baseNodeName);
            if (!ChainLookup.Contains(top, baseNode))
            {
                throw QmpException.Generic($"'{baseNodeName}' is not in this backing file chain");
            }
        }
        else if (baseName is not null)
        {
            baseNode = ChainLookup.FindBackingImage(top, baseName)
                ?? throw QmpException.Generic($"Can't find '{baseName}' in the backing chain");
        }
        else
        {
            baseNode = BlockGraph.FindBase(top);
        }

        for (var node = top; node is not null && node != BlockGraph.BackingOf(baseNode); node = BlockGraph.BackingOf(node))
        {
            node.CheckNotBlocked();
        }
        if (top == baseNode)
        {
            throw QmpException.Generic("cannot commit an image into itself");
        }
        string? filterName = arguments["filter-node-name"]?.GetValue<string>();
        if (top == bs)
        {
            if (backingFile is not null)
            {
                throw QmpException.Generic("'backing-file' specified, but 'top' is the active layer");
            }
            // mirror_start_job's check, reached when top is a filter over the chain's only image.
            if (BlockGraph.SkipFilters(bs) == BlockGraph.SkipFilters(baseNode))
            {
                throw QmpException.Generic("Can't mirror node into itself");
            }
        }
        else
        {
            CommitJob.FindOverlay(bs, top)?.CheckNotBlocked();
        }

        // An active commit is a mirror (commit_active_start): its mirror_top filter goes above top
        // first, named by filter-node-name or implicit.
        var activeFilter = top == bs
            ? await MirrorTopFilter.InsertAsync(context, bs, filterName, commit: true).ConfigureAwait(false)
            : null;
        var driver = new CommitJob(context.Graph, BlockJobCommands.EventsFor(context),
            BlockJobEnumNames.ParseOnError(arguments["on-error"]?.GetValue<string>()), bs, top, baseNode, backingFile, activeFilter);
        string jobId = arguments["job-id"]?.GetValue<string>() ?? bs.NodeName;
        try
        {
            await driver.OpenForWriteAsync().ConfigureAwait(false);
            try
            {
                // An intermediate commit's commit_top filter takes filter-node-name (active: mirror_top above).
                await BlockJobCommands.StartAsync(context, jobId, driver, arguments,
                    () => driver.AcquireAsync(activeFilter is null ? filterName : null)).ConfigureAwait(false);
            }
            catch
            {
                await driver.RestoreReadOnlyAsync().ConfigureAwait(false);
                throw;
            }
        }
        catch when (activeFilter is not null)
        {
            await MirrorTopFilter.RemoveAsync(context, activeFilter).ConfigureAwait(false);
            throw;
        }
        return null;
    }
}
