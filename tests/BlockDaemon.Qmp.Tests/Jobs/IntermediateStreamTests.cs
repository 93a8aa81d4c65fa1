using System.Text.Json.Nodes;
using BlockDaemon.Core.Drivers.CopyOnRead;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qmp.Tests.Jobs;

/// <summary>
/// Intermediate block-stream (top-node below the active layer) on a real qcow2 chain
/// base &lt;- mid1 &lt;- mid2 &lt;- top, mid2 streamed down to base: while the job runs, its
/// copy-on-read filter holds the backing link of top (so a guest read through top of data mid1
/// holds is copied into mid2) and mid2's link to mid1 is frozen; at the end top is backed by mid2
/// again, and the guest view of top never changes.
/// </summary>
public sealed class IntermediateStreamTests : IDisposable
{
    private const long Size = 4 << 20;
    private const int Mb = 1 << 20;
    private readonly TempDirectory _dir = new();
    private readonly Queue<JsonObject> _events = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    // base: 0x01 everywhere; mid1: 0x02 over [1M, 3M); mid2: 0x03 over [2M, 2M+64k); top: 0x04 over [0, 64k).
    private async Task<(QmpHarness Harness, QmpClient Client, BlockChild Guest, byte[] Before)> SetUpAsync()
    {
        await CreateImageAsync("base.qcow2", null, (0, Size, 1));
        await CreateImageAsync("mid1.qcow2", "base.qcow2", (Mb, 2 * Mb, 2));
        await CreateImageAsync("mid2.qcow2", "mid1.qcow2", (2 * Mb, 64 << 10, 3));
        await CreateImageAsync("top.qcow2", "mid2.qcow2", (0, 64 << 10, 4));
        var harness = new QmpHarness();
        harness.Graph.RegisterDriver(new Qcow2DriverFactory());
        harness.Graph.RegisterDriver(new CopyOnReadDriverFactory());
        var client = await harness.ConnectNegotiatedAsync();
        await CommandAsync(client, Add("base", "base.qcow2", null, readOnly: true));
        await CommandAsync(client, Add("mid1", "mid1.qcow2", "base", readOnly: true));
        await CommandAsync(client, Add("mid2", "mid2.qcow2", "mid1", readOnly: true));
        await CommandAsync(client, Add("top", "top.qcow2", "mid2", readOnly: false));
        // The guest, as an export would be: a user edge on top.
        var guest = await OnLoopAsync(harness, () => harness.Graph.AttachUser(null, harness.Graph.GetNode("top"),
            BlockPermissions.ConsistentRead | BlockPermissions.Write, BlockPermissions.All).Root!);
        var before = new byte[Size];
        await guest.ReadAsync(0, before, Ct);
        return (harness, client, guest, before);
    }

    [Fact]
    public async Task While_the_job_runs_the_filter_holds_the_backing_link_above_and_guest_reads_copy_into_the_streamed_image()
    {
        var (harness, client, guest, before) = await SetUpAsync();
        await using var _ = harness;
        using var __ = client;
        var graph = harness.Graph;

        // Throttled: after its first chunk the job sleeps for seconds, long enough to look.
        await CommandAsync(client, """{"execute": "block-stream", "arguments": {"job-id": "s", "device": "mid2", "base-node": "base", "speed": 65536, "filter-node-name": "cor"}}""");

        var (cor, mid2, mid1, top) = await OnLoopAsync(harness, () =>
            (graph.GetNode("cor"), graph.GetNode("mid2"), graph.GetNode("mid1"), graph.GetNode("top")));
        Assert.Same(cor, BlockGraph.BackingOf(top));
        Assert.Same(mid2, BlockGraph.ChainNextOf(cor));
        Assert.Same(top, guest.Node);
        Assert.False(BlockGraph.ChainChildOf(top)!.Frozen);
        Assert.True(BlockGraph.ChainChildOf(mid2)!.Frozen);
        Assert.False(BlockGraph.ChainChildOf(mid1)!.Frozen);
        Assert.False(mid2.ReadOnly);

        // [2M+512k, 2M+640k) is mid1's data, past the job's first chunk: reading it through top copies it into mid2.
        const long Offset = 2 * Mb + (512 << 10);
        Assert.False(await OwnsAsync(harness, mid2, Offset, 64 << 10));
        var read = new byte[64 << 10];
        await guest.ReadAsync(Offset, read, Ct);
        Assert.All(read, b => Assert.Equal(2, b));
        Assert.True(await OwnsAsync(harness, mid2, Offset, 64 << 10));
        // base's data lies below the stream's base: read, not copied.
        await guest.ReadAsync(3 * Mb + (512 << 10), read, Ct);
        Assert.All(read, b => Assert.Equal(1, b));
        Assert.False(await OwnsAsync(harness, mid2, 3 * Mb + (512 << 10), 64 << 10));

        await CommandAsync(client, """{"execute": "block-job-cancel", "arguments": {"device": "s"}}""");
        await WaitForEventAsync(client, "BLOCK_JOB_CANCELLED");
        await WaitForJobGoneAsync(client);

        await OnLoopAsync(harness, () =>
        {
            Assert.Same(mid2, BlockGraph.BackingOf(top));
            Assert.Same(mid1, BlockGraph.BackingOf(mid2));
            Assert.Null(graph.FindNode("cor"));
            Assert.False(BlockGraph.ChainChildOf(mid2)!.Frozen);
            Assert.True(mid2.ReadOnly);
            return 0;
        });
        var after = new byte[Size];
        await guest.ReadAsync(0, after, Ct);
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task At_completion_the_streamed_image_is_backed_by_the_base_and_the_overlay_by_it_again()
    {
        var (harness, client, guest, before) = await SetUpAsync();
        await using var _ = harness;
        using var __ = client;
        var graph = harness.Graph;

        await CommandAsync(client, """{"execute": "block-stream", "arguments": {"job-id": "s", "device": "mid2", "base-node": "base"}}""");
        await WaitForEventAsync(client, "BLOCK_JOB_COMPLETED");
        await WaitForJobGoneAsync(client);

        var (mid2, top) = await OnLoopAsync(harness, () => (graph.GetNode("mid2"), graph.GetNode("top")));
        await OnLoopAsync(harness, () =>
        {
            Assert.Same(mid2, BlockGraph.BackingOf(top));
            Assert.Same(graph.GetNode("base"), BlockGraph.BackingOf(mid2));
            Assert.DoesNotContain(graph.Nodes, n => n.DriverName == "copy-on-read");
            Assert.Same(top, guest.Node);
            return 0;
        });
        // mid2 holds everything mid1 did, and nothing only base holds.
        Assert.True(await OwnsAsync(harness, mid2, Mb, 2 * Mb));
        Assert.False(await OwnsAsync(harness, mid2, 3 * Mb, Mb));
        var after = new byte[Size];
        await guest.ReadAsync(0, after, Ct);
        Assert.Equal(before, after);
        var info = await CommandAsync(client, """{"execute": "query-named-block-nodes", "arguments": {"flat": true}}""");
        var mid2Info = info["return"]!.AsArray().Single(n => n!["node-name"]!.GetValue<string>() == "mid2")!;
        Assert.Equal(_dir["base.qcow2"], mid2Info["image"]!["backing-filename"]!.GetValue<string>());
    }

    // Whether the node's own layer allocates all of [offset, offset+length).
    private static Task<bool> OwnsAsync(QmpHarness harness, BlockNode node, long offset, long length) =>
        harness.Loop.InvokeAsync(async () =>
        {
            var user = harness.Graph.AttachUser(null, node, BlockPermissions.None, BlockPermissions.All);
            try
            {
                for (long at = offset; at < offset + length;)
                {
                    var status = await user.Root!.BlockStatusAsync(at, offset + length - at, Ct);
                    if ((status.Flags & BlockStatusFlags.Allocated) == 0)
                    {
                        return false;
                    }
                    at += status.Length;
                }
                return true;
            }
            finally
            {
                harness.Graph.DetachUser(user);
            }
        });

    private static Task<T> OnLoopAsync<T>(QmpHarness harness, Func<T> action) =>
        harness.Loop.InvokeAsync(() => Task.FromResult(action()));

    // A qcow2 image made in-process, with the given ranges filled in its own layer.
    private Task CreateImageAsync(string name, string? backing, params (long Offset, long Length, byte Fill)[] data) =>
        ChainImages.CreateAsync(_dir, name, Size, backing, data, Ct);

    private string Add(string name, string file, string? backing, bool readOnly)
    {
        var arguments = new JsonObject
        {
            ["driver"] = "qcow2",
            ["node-name"] = name,
            ["read-only"] = readOnly,
            ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = _dir[file] },
        };
        if (backing is not null)
        {
            arguments["backing"] = backing;
        }
        return new JsonObject { ["execute"] = "blockdev-add", ["arguments"] = arguments }.ToJsonString();
    }

    // Sends a command and returns its reply; events that come first are kept for WaitForEventAsync.
    private async Task<JsonObject> CommandAsync(QmpClient client, string request)
    {
        var reply = JsonNode.Parse(await client.CommandLineAsync(request))!.AsObject();
        while (reply.ContainsKey("event"))
        {
            _events.Enqueue(reply);
            reply = (await client.ReadAsync())!.AsObject();
        }
        Assert.False(reply.ContainsKey("error"), reply.ToJsonString());
        return reply;
    }

    // The next event that matches, taking those kept by CommandAsync first.
    private async Task WaitForEventAsync(QmpClient client, string name, string? status = null)
    {
        while (true)
        {
            var message = _events.TryDequeue(out var kept) ? kept : (await client.ReadAsync())!.AsObject();
            if (message["event"]?.GetValue<string>() == name
                && (status is null || message["data"]!["status"]?.GetValue<string>() == status))
            {
                Assert.Null(message["data"]!["error"]);
                return;
            }
        }
    }

    // The filter leaves in the job's clean step, which comes before its last status change.
    private Task WaitForJobGoneAsync(QmpClient client) => WaitForEventAsync(client, "JOB_STATUS_CHANGE", "null");
}
