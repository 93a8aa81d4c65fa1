using System.Text.Json.Nodes;
using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Graph;
using BlockDaemon.Qcow2;
using BlockDaemon.Qmp.Transactions;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qmp.Tests.Transactions;

/// <summary>
/// The dirty-bitmap transaction actions: exact undo of every kind of action when a later one
/// fails, the busy state a pending remove gives its bitmap, the image contents a persistent
/// bitmap's add or remove leaves behind on abort and on commit, and one point in time for a
/// concurrent writer.
/// </summary>
public sealed class DirtyBitmapTransactionTests : IDisposable
{
    private const long DiskSize = 4 << 20;
    private static readonly string[] LayerNodes = ["ftop", "top", "base", "fbase"];
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_failing_last_action_restores_every_bitmap_exactly()
    {
        await using var harness = new QmpHarness();
        var client = await harness.ConnectNegotiatedAsync();
        await ReturnAsync(client, "blockdev-add", new JsonObject { ["driver"] = "null-co", ["node-name"] = "n", ["size"] = DiskSize });
        await ReturnAsync(client, "blockdev-add", new JsonObject { ["driver"] = "null-co", ["node-name"] = "m", ["size"] = DiskSize });
        foreach (var (node, name, granularity) in new[] { ("n", "a", 512L), ("n", "b", 65536L), ("n", "off", 4096L), ("m", "c", 65536L) })
        {
            await ReturnAsync(client, "block-dirty-bitmap-add", new JsonObject { ["node"] = node, ["name"] = name, ["granularity"] = granularity });
        }
        await harness.Loop.InvokeAsync(() =>
        {
            var n = harness.Graph.GetNode("n");
            n.FindDirtyBitmap("a")!.Mark(0, 70000);
            n.FindDirtyBitmap("b")!.Mark(1 << 20, 5);
            n.FindDirtyBitmap("off")!.Mark(3 << 20, 8192);
            harness.Graph.GetNode("m").FindDirtyBitmap("c")!.Mark(2 << 20, 65536);
            n.DisableDirtyBitmap(n.FindDirtyBitmap("off")!);
            return Task.FromResult<object?>(null);
        });
        string before = await StateAsync(harness);

        string[] failing =
        [
            """{"type": "abort", "data": {}}""",
            """{"type": "block-dirty-bitmap-merge", "data": {"node": "n", "target": "a", "bitmaps": ["nosuch"]}}""",
            """{"type": "block-dirty-bitmap-enable", "data": {"node": "n", "name": "nosuch"}}""",
            """{"type": "block-dirty-bitmap-add", "data": {"node": "n", "name": "b"}}""",
        ];
        string actions = """
            {"type": "block-dirty-bitmap-add", "data": {"node": "n", "name": "new", "granularity": 512}},
            {"type": "block-dirty-bitmap-merge", "data": {"node": "n", "target": "new", "bitmaps": ["a", "b"]}},
            {"type": "block-dirty-bitmap-clear", "data": {"node": "n", "name": "a"}},
            {"type": "block-dirty-bitmap-merge", "data": {"node": "n", "target": "b", "bitmaps": ["off", {"node": "m", "name": "c"}]}},
            {"type": "block-dirty-bitmap-enable", "data": {"node": "n", "name": "off"}},
            {"type": "block-dirty-bitmap-clear", "data": {"node": "n", "name": "off"}},
            {"type": "block-dirty-bitmap-disable", "data": {"node": "n", "name": "a"}},
            {"type": "block-dirty-bitmap-remove", "data": {"node": "m", "name": "c"}},
            {"type": "block-dirty-bitmap-clear", "data": {"node": "n", "name": "b"}}
            """;
        foreach (string last in failing)
        {
            var reply = await client.CommandAsync($$$"""{"execute": "transaction", "arguments": {"actions": [{{{actions}}}, {{{last}}}]}}""");
            Assert.True(reply["error"] is JsonObject, reply.ToJsonString());
            Assert.Equal(before, await StateAsync(harness));
        }
        // The same actions without the failing one all take effect.
        Assert.Equal("""{"return": {}}""", await client.CommandLineAsync($$$"""{"execute": "transaction", "arguments": {"actions": [{{{actions}}}]}}"""));
        Assert.NotEqual(before, await StateAsync(harness));
        await harness.Loop.InvokeAsync(() =>
        {
            var n = harness.Graph.GetNode("n");
            Assert.Null(harness.Graph.GetNode("m").FindDirtyBitmap("c"));
            Assert.Equal(0, n.FindDirtyBitmap("a")!.Count);
            Assert.False(n.FindDirtyBitmap("a")!.Recording);
            Assert.True(n.FindDirtyBitmap("off")!.Recording);
            Assert.Equal(65536 + 512 * 137, n.FindDirtyBitmap("new")!.Count);
            return Task.FromResult<object?>(null);
        });
    }

    [Fact]
    public async Task A_failing_enable_is_an_error_not_a_crash()
    {
        // qsd 7.2 dereferences a null bitmap when an enable action fails; blockd reports it.
        await using var harness = new QmpHarness();
        var client = await harness.ConnectNegotiatedAsync();
        await ReturnAsync(client, "blockdev-add", new JsonObject { ["driver"] = "null-co", ["node-name"] = "n" });
        var reply = await client.CommandLineAsync("""{"execute": "transaction", "arguments": {"actions": [{"type": "block-dirty-bitmap-enable", "data": {"node": "n", "name": "x"}}]}}""");
        Assert.Equal("""{"error": {"class": "GenericError", "desc": "Dirty bitmap 'x' not found"}}""", reply);
        reply = await client.CommandLineAsync("""{"execute": "transaction", "arguments": {"actions": [{"type": "block-dirty-bitmap-enable", "data": {"node": "n", "name": "x"}}], "properties": {"completion-mode": "grouped"}}}""");
        Assert.Equal("""{"error": {"class": "GenericError", "desc": "Action 'block-dirty-bitmap-enable' does not support Transaction property completion-mode = grouped"}}""", reply);
    }

    [Fact]
    public async Task A_pending_remove_makes_the_bitmap_busy_until_the_transaction_ends()
    {
        await using var harness = new QmpHarness();
        var client = await harness.ConnectNegotiatedAsync();
        await ReturnAsync(client, "blockdev-add", new JsonObject { ["driver"] = "null-co", ["node-name"] = "n" });
        await ReturnAsync(client, "block-dirty-bitmap-add", new JsonObject { ["node"] = "n", ["name"] = "x" });
        var seen = new List<bool>();
        var tx = await harness.Loop.InvokeAsync(() => Task.FromResult(NewTransaction(harness)));
        var remove = TransactionActions.Create(tx, "block-dirty-bitmap-remove", new JsonObject { ["node"] = "n", ["name"] = "x" });
        var bitmap = await harness.Loop.InvokeAsync(() => Task.FromResult(harness.Graph.GetNode("n").FindDirtyBitmap("x")!));
        await harness.Loop.InvokeAsync(async () =>
        {
            await remove.PrepareAsync(Ct);
            seen.Add(bitmap.Busy);
            await remove.AbortAsync(Ct);
            await remove.CleanAsync(Ct);
            seen.Add(bitmap.Busy);
            seen.Add(harness.Graph.GetNode("n").FindDirtyBitmap("x") is not null);
            return (object?)null;
        });
        Assert.Equal([true, false, true], seen);
    }

    [Fact]
    public async Task A_persistent_bitmap_stays_in_the_image_when_its_removal_is_undone_and_leaves_it_when_added_then_undone()
    {
        ExternalTools.Require(ExternalTools.QemuImg);
        string image = _dir["d.qcow2"];
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", image, "4M"], Ct);
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["bitmap", "--add", image, "kept"], Ct);
        await using var harness = new QmpHarness();
        harness.Graph.RegisterDriver(new Qcow2DriverFactory());
        var client = await harness.ConnectNegotiatedAsync();
        await ReturnAsync(client, "blockdev-add", new JsonObject
        {
            ["driver"] = "qcow2",
            ["node-name"] = "d",
            ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = image },
        });
        Assert.Equal(["kept"], await StoredAsync(image));

        string undone = """{"execute": "transaction", "arguments": {"actions": [{"type": "block-dirty-bitmap-remove", "data": {"node": "d", "name": "kept"}}, {"type": "block-dirty-bitmap-add", "data": {"node": "d", "name": "new", "persistent": true}}, {"type": "abort", "data": {}}]}}""";
        Assert.Contains("Transaction aborted", await client.CommandLineAsync(undone));
        Assert.Equal(["kept"], await StoredAsync(image));

        string done = """{"execute": "transaction", "arguments": {"actions": [{"type": "block-dirty-bitmap-remove", "data": {"node": "d", "name": "kept"}}, {"type": "block-dirty-bitmap-add", "data": {"node": "d", "name": "new", "persistent": true}}]}}""";
        Assert.Equal("""{"return": {}}""", await client.CommandLineAsync(done));
        Assert.Equal(["new"], await StoredAsync(image));
    }

    [Fact]
    public async Task A_checkpoint_is_one_point_in_time_for_a_concurrent_writer()
    {
        const long Size = 1L << 30;
        await using var harness = new QmpHarness();
        var client = await harness.ConnectNegotiatedAsync();
        await ReturnAsync(client, "blockdev-add", new JsonObject { ["driver"] = "null-co", ["node-name"] = "n", ["size"] = Size });
        await ReturnAsync(client, "block-dirty-bitmap-add", new JsonObject { ["node"] = "n", ["name"] = "old", ["granularity"] = 512 });
        var disk = await harness.Loop.InvokeAsync(() => Task.FromResult(
            harness.Graph.AttachUser(null, harness.Graph.GetNode("n"), BlockPermissions.ConsistentRead | BlockPermissions.Write, BlockPermissions.All).Root!));

        // One record per 512-byte sector, each written after the previous one completed, until
        // well after the transaction has answered.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writer = Task.Run(async () =>
        {
            var record = new byte[512];
            int after = 0;
            int i = 0;
            for (; i < Size / 512 && after < 200; i++)
            {
                await disk.WriteAsync(i * 512L, record, ct: Ct);
                if (i == 50)
                {
                    started.SetResult();
                }
                if (answered.Task.IsCompleted)
                {
                    after++;
                }
            }
            return i;
        }, Ct);
        await started.Task;
        // Disabling first is the order that loses a write if the transaction is not one point in time.
        Assert.Equal("""{"return": {}}""", await client.CommandLineAsync("""{"execute": "transaction", "arguments": {"actions": [{"type": "block-dirty-bitmap-disable", "data": {"node": "n", "name": "old"}}, {"type": "block-dirty-bitmap-add", "data": {"node": "n", "name": "new", "granularity": 512}}]}}"""));
        answered.SetResult();
        int records = await writer;

        var (old, @new) = await harness.Loop.InvokeAsync(() =>
        {
            var n = harness.Graph.GetNode("n");
            return Task.FromResult((n.FindDirtyBitmap("old")!, n.FindDirtyBitmap("new")!));
        });
        Assert.True(records < Size / 512, "the writer ran out of disk before the transaction answered");
        int split = Enumerable.Range(0, records).First(i => !old.IsDirty(i * 512L));
        Assert.True(split > 50);
        for (int i = 0; i < records; i++)
        {
            Assert.True(old.IsDirty(i * 512L) == i < split, $"record {i}: the old bitmap holds a prefix ending at {split}");
            Assert.True(@new.IsDirty(i * 512L) == i >= split, $"record {i}: the new bitmap holds every record from {split} on");
        }
    }

    [Fact]
    public async Task A_format_file_node_is_held_through_its_format_node_and_a_backing_node_by_itself()
    {
        ExternalTools.Require(ExternalTools.QemuImg);
        string baseImage = _dir["b.qcow2"];
        string top = _dir["t.qcow2"];
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", baseImage, "1M"], Ct);
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", top, "1M"], Ct);
        await using var harness = new QmpHarness();
        harness.Graph.RegisterDriver(new Qcow2DriverFactory());
        var client = await harness.ConnectNegotiatedAsync();
        await ReturnAsync(client, "blockdev-add", new JsonObject
        {
            ["driver"] = "qcow2", ["node-name"] = "base",
            ["file"] = new JsonObject { ["driver"] = "file", ["node-name"] = "fbase", ["filename"] = baseImage },
        });
        await ReturnAsync(client, "blockdev-add", new JsonObject
        {
            ["driver"] = "qcow2", ["node-name"] = "top", ["backing"] = "base",
            ["file"] = new JsonObject { ["driver"] = "file", ["node-name"] = "ftop", ["filename"] = top },
        });
        var names = await harness.Loop.InvokeAsync(() => Task.FromResult(
            LayerNodes.Select(n => string.Join(",", DirtyBitmapAction.WritersOf(harness.Graph.GetNode(n)).Select(w => w.NodeName))).ToArray()));
        Assert.Equal(["top", "top", "base", "base"], names);
        // A transaction on the file node's bitmap and a persistent one of its format node does not deadlock.
        await ReturnAsync(client, "block-dirty-bitmap-add", new JsonObject { ["node"] = "ftop", ["name"] = "f" });
        Assert.Equal("""{"return": {}}""", await client.CommandLineAsync("""{"execute": "transaction", "arguments": {"actions": [{"type": "block-dirty-bitmap-clear", "data": {"node": "ftop", "name": "f"}}, {"type": "block-dirty-bitmap-add", "data": {"node": "top", "name": "p", "persistent": true}}]}}"""));
    }

    private static TransactionContext NewTransaction(QmpHarness harness) =>
        new(new Commands.CommandContext
        {
            Graph = harness.Graph,
            Schema = harness.Server.Schema,
            Events = harness.Events,
            Daemon = harness.Daemon,
            Jobs = harness.Server.Jobs,
            Exports = harness.Server.Exports,
        }, CompletionMode.Individual);

    // Every bitmap of every node: name, granularity, recording, busy, persistent and the bits' sha256.
    private static Task<string> StateAsync(QmpHarness harness) => harness.Loop.InvokeAsync(() => Task.FromResult(string.Join("; ",
        harness.Graph.Nodes.SelectMany(n => n.DirtyBitmaps.Select(b => $"{n.NodeName}/{b.Name} {b.Granularity} {b.Recording} {b.Busy} {b.Persistent} {b.Sha256()}")))));

    private async Task<string[]> StoredAsync(string image)
    {
        var info = await ExternalTools.RunAsync(ExternalTools.QemuImg, ["info", "-U", "--output=json", image], Ct);
        var bitmaps = JsonNode.Parse(info.Stdout)!["format-specific"]!["data"]!["bitmaps"]?.AsArray() ?? [];
        return bitmaps.Select(b => (string)b!["name"]!).Order().ToArray();
    }

    private static async Task ReturnAsync(QmpClient client, string command, JsonObject arguments)
    {
        string reply = await client.CommandLineAsync(new JsonObject { ["execute"] = command, ["arguments"] = arguments }.ToJsonString());
        Assert.True(reply == """{"return": {}}""", $"{command}: {reply}");
    }
}
