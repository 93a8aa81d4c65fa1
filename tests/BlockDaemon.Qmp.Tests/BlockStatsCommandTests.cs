using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Commands;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Qmp.Tests;

/// <summary>
/// query-blockstats node entries (iotests 206-210 hold qsd's recorded answers): the node's own
/// counters, the file driver's discard counters, and the data child as "parent".
/// </summary>
public sealed class BlockStatsCommandTests : IAsyncDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly TestGraph _graph = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        await _graph.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task A_raw_node_nests_its_file_with_the_counters_each_node_kept()
    {
        string img = _dir.CreateFile("img", 1 << 20);
        await _graph.AddAsync(Opt.Raw("r0", Opt.File(img, "f0", ("discard", "unmap")), ("discard", "unmap")), Ct);
        var root = _graph.Attach("r0", ConsistentRead | Write);
        await root.WriteAsync(4000, new byte[] { 1, 2 }, ct: Ct);
        await root.DiscardAsync(65536, 65536, Ct);

        var entry = BlockStatsCommand.NodeStats(_graph.Graph.GetNode("r0"));

        Assert.Equal("r0", (string?)entry["node-name"]);
        Assert.Null(entry["driver-specific"]);
        Assert.Null(entry["backing"]);
        Assert.Equal(4002, (long?)entry["stats"]!["wr_highest_offset"]);
        var parent = entry["parent"]!.AsObject();
        Assert.Equal("f0", (string?)parent["node-name"]);
        Assert.Null(parent["parent"]);
        Assert.Equal(4002, (long?)parent["stats"]!["wr_highest_offset"]);
        Assert.True(JsonNode.DeepEquals(
            new JsonObject { ["driver"] = "file", ["discard-nb-ok"] = 1L, ["discard-nb-failed"] = 0L, ["discard-bytes-ok"] = 65536L },
            parent["driver-specific"]));
    }

    [Fact]
    public async Task Backend_counters_are_zero_and_optional_members_absent_for_a_node()
    {
        await _graph.AddAsync(Opt.Null("n0"), Ct);
        await _graph.Attach("n0", ConsistentRead | Write).WriteAsync(0, new byte[512], ct: Ct);

        var stats = BlockStatsCommand.NodeStats(_graph.Graph.GetNode("n0"))["stats"]!.AsObject();

        Assert.Equal(512, (long?)stats["wr_highest_offset"]);
        Assert.All(stats.Where(m => m.Key.EndsWith("_bytes", StringComparison.Ordinal) || m.Key.EndsWith("_operations", StringComparison.Ordinal)
            || m.Key.EndsWith("_ns", StringComparison.Ordinal) || m.Key.EndsWith("_merged", StringComparison.Ordinal)),
            m => Assert.Equal(0, (int?)m.Value));
        Assert.False((bool?)stats["account_invalid"]);
        Assert.False((bool?)stats["account_failed"]);
        Assert.Empty(stats["timed_stats"]!.AsArray());
        Assert.False(stats.ContainsKey("idle_time_ns"));
        Assert.False(stats.ContainsKey("rd_latency_histogram"));
        Assert.Equal(26, stats.Count);
    }
}
