using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Tests.Daemons;

namespace BlockDaemon.Ctl.Tests.Jobs;

/// <summary>
/// blockctl commit and stream --wait on a real qcow2 chain, checked afterwards with
/// qemu-img info --backing-chain and qemu-io. The blockd cases skip while blockd answers
/// block-commit / block-stream with CommandNotFound, and run once the jobs land.
/// </summary>
public sealed class CommitStreamTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Intermediate_commit_waits_and_drops_mid_from_the_chain(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartRequiringAsync(kind, Ct, "block-commit");
        var chain = await ImageChain.CreateAsync(daemon, Ct);

        var result = await Blockctl.RunAsync(daemon.Socket, "commit", "top", "--top", "mid", "--base", "base", "--wait", "--verbose");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("Commit complete\n", result.Stdout);
        Assert.Contains("Block Commit: [##############################] 100 %", result.Stderr, StringComparison.Ordinal);
        Assert.Empty(await daemon.Qmp.ExecuteAsync("query-jobs", null, Ct) as JsonArray ?? []);

        await chain.QuitAndVerifyAsync(chain.Top, [chain.Top, chain.Base], Ct);
        // mid's data now lives in base.
        await ImageChain.VerifyAsync(chain.Base, ["read -P 0x11 0 16M", "read -P 0x22 16M 8M", "read -P 0 24M 40M"], Ct);
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Active_commit_with_pivot_moves_the_export_to_the_base(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartRequiringAsync(kind, Ct, "block-commit", "job-complete");
        var chain = await ImageChain.CreateAsync(daemon, Ct);
        await chain.ExportAsync("top", Ct);

        var result = await Blockctl.RunAsync(daemon.Socket, "commit", "top", "--base", "base", "--pivot", "--verbose");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("Successfully pivoted\n", result.Stdout);
        Assert.Contains("100 %", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("base", await chain.ExportedNodeAsync(Ct));

        await chain.QuitAndVerifyAsync(chain.Base, [chain.Base], Ct);
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Active_commit_without_pivot_stops_at_ready_and_wait_pivots_later(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartRequiringAsync(kind, Ct, "block-commit", "job-complete");
        var chain = await ImageChain.CreateAsync(daemon, Ct);
        await chain.ExportAsync("top", Ct);

        var ready = await Blockctl.RunAsync(daemon.Socket, "commit", "top", "--base", "base", "--job-id", "ac", "--wait");
        Assert.True(ready.ExitCode == 0, ready.ToString());
        Assert.Equal("Now in synchronized phase\n", ready.Stdout);
        var jobs = await daemon.Qmp.ExecuteAsync("query-jobs", null, Ct) as JsonArray;
        Assert.Equal("ready", (string?)jobs!.Single()!["status"]);
        // Still on top's side (qsd's commit filter sits above top while the job runs), not yet on base.
        Assert.NotEqual("base", await chain.ExportedNodeAsync(Ct));

        var pivot = await Blockctl.RunAsync(daemon.Socket, "wait", "ac", "--pivot");
        Assert.True(pivot.ExitCode == 0, pivot.ToString());
        Assert.Equal("Successfully pivoted\n", pivot.Stdout);
        Assert.Equal("base", await chain.ExportedNodeAsync(Ct));
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Full_stream_leaves_top_standalone(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartRequiringAsync(kind, Ct, "block-stream");
        var chain = await ImageChain.CreateAsync(daemon, Ct);

        var result = await Blockctl.RunAsync(daemon.Socket, "stream", "top", "--wait", "--verbose");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("Pull complete\n", result.Stdout);
        Assert.Contains("Block Pull: [", result.Stderr, StringComparison.Ordinal);

        await chain.QuitAndVerifyAsync(chain.Top, [chain.Top], Ct);
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Stream_down_to_a_base_keeps_the_base(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartRequiringAsync(kind, Ct, "block-stream");
        var chain = await ImageChain.CreateAsync(daemon, Ct);

        var result = await Blockctl.RunAsync(daemon.Socket, "stream", "top", "--base", "base", "--wait");
        Assert.True(result.ExitCode == 0, result.ToString());

        await chain.QuitAndVerifyAsync(chain.Top, [chain.Top, chain.Base], Ct);
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task A_refused_job_exits_one_with_the_daemons_error(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartRequiringAsync(kind, Ct, "block-commit");
        await ImageChain.CreateAsync(daemon, Ct);

        var result = await Blockctl.RunAsync(daemon.Socket, "commit", "top", "--top", "mid", "--base", "nope", "--wait");
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("blockctl: block-commit: ", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("nope", result.Stderr, StringComparison.Ordinal);
    }
}
