using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// query-blockstats, shaped as qsd 7.2's qmp_query_blockstats answers it.
/// <para>
/// Without query-nodes qsd lists its named BlockBackends (a guest device's). A storage daemon
/// has none: its exports and jobs use anonymous backends, as blockd's users are anonymous
/// (query-block is empty for the same reason), so that answer is the empty list.
/// </para>
/// <para>
/// With query-nodes, every node in creation order (qsd's graph_bdrv_states), each with the
/// node-level part of bdrv_query_bds_stats: the request counters belong to BlockBackends, which
/// qsd never adds for a node, so only wr_highest_offset is the node's own; the file driver
/// adds its discard counters; "parent" is the child holding the node's data, and "backing"
/// is left out, as qsd leaves it out of node-level entries.
/// </para>
/// </summary>
public static class BlockStatsCommand
{
    internal static void Register(CommandRegistry registry) => registry.Add("query-blockstats", QueryBlockStats);

    private static Task<JsonNode?> QueryBlockStats(CommandContext context, JsonObject arguments)
    {
        bool queryNodes = arguments["query-nodes"]?.GetValue<bool>() ?? false;
        var list = new JsonArray();
        if (queryNodes)
        {
            foreach (var node in context.Graph.Nodes)
            {
                list.Add((JsonNode)NodeStats(node));
            }
        }
        return Task.FromResult<JsonNode?>(list);
    }

    internal static JsonObject NodeStats(BlockNode node)
    {
        var entry = new JsonObject
        {
            ["node-name"] = node.NodeName,
            ["stats"] = Stats(node.Statistics),
        };
        if (node.Driver is IDiscardStatisticsSource source)
        {
            entry["driver-specific"] = new JsonObject
            {
                ["driver"] = node.DriverName,
                ["discard-nb-ok"] = source.Discards.Succeeded,
                ["discard-nb-failed"] = source.Discards.Failed,
                ["discard-bytes-ok"] = source.Discards.SucceededBytes,
            };
        }
        if (DataChild(node) is { } child)
        {
            entry["parent"] = NodeStats(child);
        }
        return entry;
    }

    // BlockDeviceStats of a node: the backend counters stay zero, accounting of invalid and
    // failed requests is off and there are no intervals, as for a qsd node; idle_time_ns and the
    // histograms appear only for backends.
    private static JsonObject Stats(NodeStatistics statistics) => new()
    {
        ["rd_bytes"] = 0,
        ["wr_bytes"] = 0,
        ["unmap_bytes"] = 0,
        ["rd_operations"] = 0,
        ["wr_operations"] = 0,
        ["flush_operations"] = 0,
        ["unmap_operations"] = 0,
        ["rd_total_time_ns"] = 0,
        ["wr_total_time_ns"] = 0,
        ["flush_total_time_ns"] = 0,
        ["unmap_total_time_ns"] = 0,
        ["wr_highest_offset"] = statistics.HighestWriteEnd,
        ["rd_merged"] = 0,
        ["wr_merged"] = 0,
        ["unmap_merged"] = 0,
        ["failed_rd_operations"] = 0,
        ["failed_wr_operations"] = 0,
        ["failed_flush_operations"] = 0,
        ["failed_unmap_operations"] = 0,
        ["invalid_rd_operations"] = 0,
        ["invalid_wr_operations"] = 0,
        ["invalid_flush_operations"] = 0,
        ["invalid_unmap_operations"] = 0,
        ["account_invalid"] = false,
        ["account_failed"] = false,
        ["timed_stats"] = new JsonArray(),
    };

    // QEMU's choice: the primary child if it holds data or is the filtered one, else the only
    // child holding data. In blockd terms: a filter's filtered child (mirror_top and commit_top
    // filter their "backing"), a qcow2's external data file (its "file" then holds metadata
    // only), else the "file" child (raw, qcow2, snapshot-access). A backing file never counts.
    private static BlockNode? DataChild(BlockNode node)
    {
        if (node.Driver is IFilterDriver filter)
        {
            return filter.FilteredChild?.Node;
        }
        return (node.FindChild("data-file") ?? node.FindChild("file"))?.Node;
    }
}
