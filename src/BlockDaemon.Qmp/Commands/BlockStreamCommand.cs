using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Jobs.BlockJobs;
using BlockDaemon.Jobs.Stream;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// block-stream, with qmp_block_stream's checks in its order. Unlike qsd 7.2, a missing job-id
/// defaults to the node name (qsd refuses it with "Invalid job ID ''", its device name being empty).
/// </summary>
public static class BlockStreamCommand
{
    internal static void Register(CommandRegistry registry) => registry.Add("block-stream", BlockStream);

    private static async Task<JsonNode?> BlockStream(CommandContext context, JsonObject arguments)
    {
        string device = arguments["device"]!.GetValue<string>();
        string? baseName = arguments["base"]?.GetValue<string>();
        string? baseNodeName = arguments["base-node"]?.GetValue<string>();
        string? bottomName = arguments["bottom"]?.GetValue<string>();
        string? backingFile = arguments["backing-file"]?.GetValue<string>();
        if (baseName is not null && baseNodeName is not null)
        {
            throw QmpException.Generic("'base' and 'base-node' cannot be specified at the same time");
        }
        if (baseName is not null && bottomName is not null)
        {
            throw QmpException.Generic("'base' and 'bottom' cannot be specified at the same time");
        }
        if (baseNodeName is not null && bottomName is not null)
        {
            throw QmpException.Generic("'bottom' and 'base-node' cannot be specified at the same time");
        }
        var top = BlockJobCommands.FindDevice(context, device);
        BlockNode? baseNode = null;
        if (baseName is not null)
        {
            baseNode = ChainLookup.FindBackingImage(top, baseName)
                ?? throw QmpException.Generic($"Can't find '{baseName}' in the backing chain");
        }
        if (baseNodeName is not null)
        {
            baseNode = BlockJobCommands.FindNodeOnly(context, baseNodeName);
            if (baseNode == top || !ChainLookup.Contains(top, baseNode))
            {
                throw QmpException.Generic($"Node '{baseNodeName}' is not a backing image of '{device}'");
            }
        }
        if (bottomName is not null)
        {
            var bottom = BlockJobCommands.FindNodeOnly(context, bottomName);
            if (!ChainLookup.Contains(top, bottom))
            {
                throw QmpException.Generic($"Node '{bottomName}' is not in a chain starting from '{device}'");
            }
            baseNode = BlockGraph.BackingOf(bottom);
        }
        StreamJob.CheckChainFree(top, baseNode);
        if (baseNode is null && backingFile is not null)
        {
            throw QmpException.Generic("backing file specified, but streaming the entire chain");
        }
        // bdrv_insert_node's errors; the name is checked before the reopen below, which it does not depend on.
        string? filterName = arguments["filter-node-name"]?.GetValue<string>();
        BlockJobCommands.CheckFilterName(context, filterName, "Could not create node: ");
        var driver = new StreamJob(context.Graph, BlockJobCommands.EventsFor(context),
            BlockJobEnumNames.ParseOnError(arguments["on-error"]?.GetValue<string>()), top, baseNode, backingFile);
        string jobId = arguments["job-id"]?.GetValue<string>() ?? top.NodeName;
        await driver.OpenForWriteAsync().ConfigureAwait(false);
        try
        {
            // As in qsd, the filter goes in before the job is created, so a bad job id or speed
            // still used up an automatic node name.
            await driver.InsertFilterAsync(filterName).ConfigureAwait(false);
            await BlockJobCommands.StartAsync(context, jobId, driver, arguments, driver.Acquire).ConfigureAwait(false);
        }
        catch
        {
            await driver.RemoveFilterAsync().ConfigureAwait(false);
            await driver.RestoreReadOnlyAsync().ConfigureAwait(false);
            throw;
        }
        return null;
    }
}
