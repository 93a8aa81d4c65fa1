using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Cli;

namespace BlockDaemon.Ctl.Tests.Daemons;

/// <summary>blockctl COMMAND [key=value ...] against a real qsd and a real blockd.</summary>
public sealed class RawCommandTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Query_version_prints_readably_and_as_json(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartAsync(kind, Ct);
        var readable = await Blockctl.RunAsync(daemon.Socket, "query-version");
        Assert.True(readable.ExitCode == 0, readable.ToString());
        Assert.Contains("qemu:\n", readable.Stdout, StringComparison.Ordinal);
        Assert.Contains("  major: 7\n", readable.Stdout, StringComparison.Ordinal);

        var json = await Blockctl.RunAsync(daemon.Socket, "query-version", "--json");
        Assert.Equal(0, json.ExitCode);
        var reply = JsonNode.Parse(json.Stdout)!.AsObject();
        Assert.Equal(7, (int)reply["return"]!["qemu"]!["major"]!);
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Key_value_arguments_are_typed_by_the_schema(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartAsync(kind, Ct);
        // size is an int, read-only a bool, cache.direct a nested bool: sent as strings, the daemon would refuse each.
        var add = await Blockctl.RunAsync(daemon.Socket, "blockdev-add", "driver=null-co", "node-name=n0", "size=2M", "read-only=on", "cache.direct=off");
        Assert.True(add.ExitCode == 0, add.ToString());
        Assert.Equal("", add.Stdout);

        var nodes = await daemon.Qmp.ExecuteAsync("query-named-block-nodes", null, Ct) as JsonArray;
        var node = nodes!.OfType<JsonObject>().Single(n => (string?)n["node-name"] == "n0");
        Assert.Equal(2L << 20, (long)node["image"]!["virtual-size"]!);
        Assert.True((bool)node["ro"]!);

        // A JSON object argument, and a key:=JSON value.
        var json = await Blockctl.RunAsync(daemon.Socket, "blockdev-add", """{"driver": "null-co", "node-name": "n1", "size": 4096}""");
        Assert.True(json.ExitCode == 0, json.ToString());
        var typed = await Blockctl.RunAsync(daemon.Socket, "blockdev-add", "driver=null-co", "node-name=n2", "size:=8192");
        Assert.True(typed.ExitCode == 0, typed.ToString());

        var list = await Blockctl.RunAsync(daemon.Socket, "query-named-block-nodes", "flat=true");
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("node-name: n1\n", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("virtual-size: 8192\n", list.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Errors_are_printed_with_their_class_and_exit_one(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartAsync(kind, Ct);
        var unknown = await Blockctl.RunAsync(daemon.Socket, "no-such-command");
        Assert.Equal(ExitCodes.CommandFailed, unknown.ExitCode);
        Assert.Equal("blockctl: no-such-command: The command no-such-command has not been found (CommandNotFound)\n", unknown.Stderr);

        var missing = await Blockctl.RunAsync(daemon.Socket, "blockdev-del", "node-name=nope");
        Assert.Equal(ExitCodes.CommandFailed, missing.ExitCode);
        Assert.Equal("blockctl: blockdev-del: Failed to find node with node-name='nope' (GenericError)\n", missing.Stderr);

        // A member the schema does not know is sent as a string: the daemon's own text reports it.
        var unexpected = await Blockctl.RunAsync(daemon.Socket, "blockdev-add", "driver=null-co", "node-name=x", "bogus=1");
        Assert.Equal(ExitCodes.CommandFailed, unexpected.ExitCode);
        Assert.Contains("Parameter 'bogus' is unexpected (GenericError)", unexpected.Stderr, StringComparison.Ordinal);

        // A value that cannot have the schema's type is refused by blockctl, before sending.
        var badType = await Blockctl.RunAsync(daemon.Socket, "blockdev-add", "driver=null-co", "node-name=x", "size=big");
        Assert.Equal(ExitCodes.Usage, badType.ExitCode);
        Assert.Equal("blockctl: Parameter 'size' expects an integer, not 'big'\n", badType.Stderr);

        var json = await Blockctl.RunAsync(daemon.Socket, "--json", "blockdev-del", "node-name=nope");
        Assert.Equal(ExitCodes.CommandFailed, json.ExitCode);
        Assert.Equal("GenericError", (string?)JsonNode.Parse(json.Stdout)!["error"]!["class"]);
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task A_pretty_monitor_is_read_message_by_message(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartAsync(kind, Ct, pretty: true);
        var script = $"""
            blockdev-create job-id=p0 options.driver=file options.filename={daemon.Dir["p.img"]} options.size=64k
            query-version
            """;
        var result = await Blockctl.RunAsync(["--socket", daemon.Socket, "shell"], script, null, CancellationToken.None);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("JOB_STATUS_CHANGE status=created id=p0\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("  major: 7\n", result.Stdout, StringComparison.Ordinal);
    }
}
