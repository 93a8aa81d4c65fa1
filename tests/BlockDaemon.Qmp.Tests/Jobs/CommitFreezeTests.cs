using System.Text.Json.Nodes;
using BlockDaemon.Core.Drivers.CommitTop;
using BlockDaemon.Core.Drivers.CopyOnRead;
using BlockDaemon.Core.Drivers.MirrorTop;
using BlockDaemon.Core.Graph;
using BlockDaemon.Qcow2;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qmp.Tests.Jobs;

/// <summary>
/// block-commit freezes its stretch of the chain on a real qcow2 chain base &lt;- mid1 &lt;- mid2
/// &lt;- top: an intermediate commit of mid2 from its commit_top filter down to base, an active
/// commit from its mirror_top filter down to mid1. Every hold is given back exactly once, whether
/// the job is cancelled, completes, or never starts (no count is left behind to refuse a later
/// reopen).
/// </summary>
public sealed class CommitFreezeTests : IDisposable
{
    private const long Size = 2 << 20;
    private readonly TempDirectory _dir = new();
    private readonly Queue<JsonObject> _events = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private async Task<(QmpHarness Harness, QmpClient Client)> SetUpAsync()
    {
        await CreateImageAsync("base.qcow2", null, 1);
        await CreateImageAsync("mid1.qcow2", "base.qcow2", 2);
        await CreateImageAsync("mid2.qcow2", "mid1.qcow2", 3);
        await CreateImageAsync("top.qcow2", "mid2.qcow2", 4);
        var harness = new QmpHarness();
        harness.Graph.RegisterDriver(new Qcow2DriverFactory());
        harness.Graph.RegisterDriver(new CopyOnReadDriverFactory());
        harness.Graph.RegisterDriver(new CommitTopDriverFactory());
        harness.Graph.RegisterDriver(new MirrorTopDriverFactory());
        var client = await harness.ConnectNegotiatedAsync();
        await CommandAsync(client, Add("base", "base.qcow2", null));
        await CommandAsync(client, Add("mid1", "mid1.qcow2", "base"));
        await CommandAsync(client, Add("mid2", "mid2.qcow2", "mid1"));
        await CommandAsync(client, Add("top", "top.qcow2", "mid2"));
        return (harness, client);
    }

    // How many holders froze each node's chain link, in order (a node without a link counts -1).
    private static Task<string> CountsAsync(QmpHarness harness, params string[] nodes) =>
        harness.Loop.InvokeAsync(() => Task.FromResult(string.Join(' ', nodes
            .Select(n => BlockGraph.ChainChildOf(harness.Graph.GetNode(n))?.FrozenCount ?? -1))));

    [Fact]
    public async Task An_intermediate_commit_freezes_from_its_filter_to_the_base_until_cancelled()
    {
        var (harness, client) = await SetUpAsync();
        await using var _ = harness;
        using var __ = client;

        await CommandAsync(client, """{"execute": "block-commit", "arguments": {"job-id": "c", "device": "top", "top-node": "mid2", "base-node": "base", "speed": 65536, "filter-node-name": "ct"}}""");

        Assert.Equal("0 1 1 1 -1", await CountsAsync(harness, "top", "ct", "mid2", "mid1", "base"));
        await CommandAsync(client, """{"execute": "block-job-cancel", "arguments": {"device": "c", "force": true}}""");
        await WaitForEventAsync(client, "JOB_STATUS_CHANGE", "null");
        Assert.Equal("0 0 0", await CountsAsync(harness, "top", "mid2", "mid1"));
    }

    [Fact]
    public async Task A_completed_intermediate_commit_leaves_nothing_frozen()
    {
        var (harness, client) = await SetUpAsync();
        await using var _ = harness;
        using var __ = client;

        await CommandAsync(client, """{"execute": "block-commit", "arguments": {"job-id": "c", "device": "top", "top-node": "mid2", "base-node": "base"}}""");
        await WaitForEventAsync(client, "BLOCK_JOB_COMPLETED");
        await WaitForEventAsync(client, "JOB_STATUS_CHANGE", "null");

        Assert.Same(harness.Graph.GetNode("base"), await harness.Loop.InvokeAsync(() => Task.FromResult(BlockGraph.BackingOf(harness.Graph.GetNode("top")))));
        Assert.Equal("0 0 0", await CountsAsync(harness, "top", "mid2", "mid1"));
    }

    [Fact]
    public async Task An_active_commit_freezes_from_mirror_top_to_the_base_until_completed()
    {
        var (harness, client) = await SetUpAsync();
        await using var _ = harness;
        using var __ = client;

        await CommandAsync(client, """{"execute": "block-commit", "arguments": {"job-id": "c", "device": "top", "base-node": "mid1", "filter-node-name": "mt"}}""");
        await WaitForEventAsync(client, "BLOCK_JOB_READY");

        Assert.Equal("1 1 1 0", await CountsAsync(harness, "mt", "top", "mid2", "mid1"));
        await CommandAsync(client, """{"execute": "job-complete", "arguments": {"id": "c"}}""");
        await WaitForEventAsync(client, "BLOCK_JOB_COMPLETED");
        await WaitForEventAsync(client, "JOB_STATUS_CHANGE", "null");
        Assert.Equal("0 0 0", await CountsAsync(harness, "top", "mid2", "mid1"));
    }

    [Fact]
    public async Task A_commit_refused_by_another_holder_takes_and_leaves_no_hold()
    {
        var (harness, client) = await SetUpAsync();
        await using var _ = harness;
        using var __ = client;
        // A copy-on-read node over mid2 with mid1 as bottom freezes cor -> mid2 -> mid1.
        await CommandAsync(client, """{"execute": "blockdev-add", "arguments": {"driver": "copy-on-read", "node-name": "cor", "file": "mid2", "bottom": "mid1"}}""");

        var error = await CommandErrorAsync(client, """{"execute": "block-commit", "arguments": {"job-id": "c", "device": "top", "top-node": "mid2", "base-node": "base"}}""");

        Assert.Equal("Cannot change 'file' link to 'mid2'", error);
        Assert.Equal("0 1 1 0", await CountsAsync(harness, "top", "cor", "mid2", "mid1"));
        var jobs = await CommandAsync(client, """{"execute": "query-jobs"}""");
        Assert.Empty(jobs["return"]!.AsArray());
        Assert.DoesNotContain(await harness.Loop.InvokeAsync(() => Task.FromResult(harness.Graph.Nodes.ToList())), n => n.DriverName == "commit_top");
    }

    // A qcow2 image made in-process, its own layer filled with one byte over its first MiB.
    private Task CreateImageAsync(string name, string? backing, byte fill) =>
        ChainImages.CreateAsync(_dir, name, Size, backing, [(0, 1 << 20, fill)], Ct);

    private string Add(string name, string file, string? backing)
    {
        var arguments = new JsonObject
        {
            ["driver"] = "qcow2",
            ["node-name"] = name,
            ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = _dir[file] },
        };
        if (backing is not null)
        {
            arguments["backing"] = backing;
        }
        return new JsonObject { ["execute"] = "blockdev-add", ["arguments"] = arguments }.ToJsonString();
    }

    private async Task<JsonObject> ReplyAsync(QmpClient client, string request)
    {
        var reply = JsonNode.Parse(await client.CommandLineAsync(request))!.AsObject();
        while (reply.ContainsKey("event"))
        {
            _events.Enqueue(reply);
            reply = (await client.ReadAsync())!.AsObject();
        }
        return reply;
    }

    private async Task<JsonObject> CommandAsync(QmpClient client, string request)
    {
        var reply = await ReplyAsync(client, request);
        Assert.False(reply.ContainsKey("error"), reply.ToJsonString());
        return reply;
    }

    private async Task<string> CommandErrorAsync(QmpClient client, string request)
    {
        var reply = await ReplyAsync(client, request);
        return reply["error"]?["desc"]?.GetValue<string>() ?? throw new Xunit.Sdk.XunitException("expected an error: " + reply.ToJsonString());
    }

    private async Task WaitForEventAsync(QmpClient client, string name, string? status = null)
    {
        while (true)
        {
            var message = _events.TryDequeue(out var kept) ? kept : (await client.ReadAsync())!.AsObject();
            if (message["event"]?.GetValue<string>() == name
                && (status is null || message["data"]!["status"]?.GetValue<string>() == status))
            {
                return;
            }
        }
    }
}
