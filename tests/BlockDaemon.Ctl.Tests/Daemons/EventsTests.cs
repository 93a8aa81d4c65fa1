using BlockDaemon.Ctl.Cli;
using System.Text.Json.Nodes;

namespace BlockDaemon.Ctl.Tests.Daemons;

/// <summary>blockctl events: follows, filters, counts, and ends on --timeout.</summary>
public sealed class EventsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Follows_filtered_events_one_per_line(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartAsync(kind, Ct);
        var stderr = new NotifyingWriter();
        var events = Blockctl.RunAsync(["--socket", daemon.Socket, "events", "job_status_*", "--count", "3"], "", stderr, CancellationToken.None);
        await stderr.WaitForAsync("Listening for events", Ct);

        // A job run by another client: blockdev-create's status changes are JOB_STATUS_CHANGE events.
        await daemon.Qmp.ExecuteAsync("blockdev-create", new JsonObject
        {
            ["job-id"] = "c1",
            ["options"] = new JsonObject { ["driver"] = "file", ["filename"] = daemon.Dir["e.img"], ["size"] = 65536 },
        }, Ct);
        var result = await events;
        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z JOB_STATUS_CHANGE status=created id=c1$", lines[0]);
        Assert.EndsWith("JOB_STATUS_CHANGE status=running id=c1", lines[1], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Json_output_and_timeout(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartAsync(kind, Ct);
        var stderr = new NotifyingWriter();
        var events = Blockctl.RunAsync(["--socket", daemon.Socket, "--json", "events", "NO_SUCH_EVENT", "JOB_STATUS_CHANGE", "--count", "1"], "", stderr, CancellationToken.None);
        await stderr.WaitForAsync("Listening for events", Ct);
        await daemon.Qmp.ExecuteAsync("blockdev-create", new JsonObject
        {
            ["job-id"] = "c2",
            ["options"] = new JsonObject { ["driver"] = "file", ["filename"] = daemon.Dir["f.img"], ["size"] = 65536 },
        }, Ct);
        var result = await events;
        Assert.Equal(0, result.ExitCode);
        var message = JsonNode.Parse(result.Stdout)!.AsObject();
        Assert.Equal("JOB_STATUS_CHANGE", (string?)message["event"]);
        Assert.Equal("c2", (string?)message["data"]!["id"]);
        Assert.NotNull(message["timestamp"]!["seconds"]);

        // Nothing happens: --timeout ends following (status 0), or a --count not reached (status 4).
        var quiet = await Blockctl.RunAsync(daemon.Socket, "events", "--timeout", "0.2");
        Assert.Equal(0, quiet.ExitCode);
        var short_ = await Blockctl.RunAsync(daemon.Socket, "events", "--timeout", "0.2", "--count", "1");
        Assert.Equal(ExitCodes.TimedOut, short_.ExitCode);
    }

    [Fact]
    public async Task The_daemon_going_away_ends_following()
    {
        await using var daemon = await Daemon.StartAsync(DaemonKind.Blockd, Ct);
        var stderr = new NotifyingWriter();
        var events = Blockctl.RunAsync(["--socket", daemon.Socket, "events"], "", stderr, CancellationToken.None);
        await stderr.WaitForAsync("Listening for events", Ct);
        await daemon.QuitAsync(Ct);
        var result = await events;
        Assert.Equal(ExitCodes.ConnectionFailed, result.ExitCode);
        Assert.Contains("closed the QMP connection", result.Stderr, StringComparison.Ordinal);
    }
}
