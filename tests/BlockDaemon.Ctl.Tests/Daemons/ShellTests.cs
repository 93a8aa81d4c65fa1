using BlockDaemon.Ctl.Cli;

namespace BlockDaemon.Ctl.Tests.Daemons;

/// <summary>blockctl shell with piped input: every way to write a command, errors, events, the built-in words.</summary>
public sealed class ShellTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string Script = """
        # comments and blank lines are skipped

        blockdev-add driver=null-co node-name=s0 size=1M
        blockdev-add '{"driver": "null-co", "node-name": "s1"}'
        {"execute": "query-named-block-nodes", "arguments": {"flat": true}}
        help blockdev-del
        blockdev-del node-name=missing
        blockdev-del node-name=s1
        exit
        query-version
        """;

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Piped_script_runs_line_by_line(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartAsync(kind, Ct);
        var result = await Blockctl.RunAsync(["--socket", daemon.Socket, "shell"], Script, null, CancellationToken.None);

        // One command failed (blockdev-del of a missing node): the shell went on, and says so in its status.
        Assert.True(result.ExitCode == ExitCodes.CommandFailed, result.ToString());
        Assert.Equal("blockctl: blockdev-del: Failed to find node with node-name='missing' (GenericError)\n", result.Stderr);
        Assert.Contains("node-name: s0\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("node-name: s1\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("blockdev-del\n  node-name: string\n", result.Stdout, StringComparison.Ordinal);
        // "exit" ended the session: the query-version after it never ran.
        Assert.DoesNotContain("qemu:", result.Stdout, StringComparison.Ordinal);

        var nodes = (await daemon.Qmp.ExecuteAsync("query-named-block-nodes", null, Ct))!.ToJsonString();
        Assert.Contains("\"s0\"", nodes, StringComparison.Ordinal);
        Assert.DoesNotContain("\"s1\"", nodes, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Events_are_printed_before_the_reply_that_followed_them(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartAsync(kind, Ct);
        string image = daemon.Dir["created.img"];
        string script = $"""
            blockdev-create job-id=c0 options.driver=file options.filename={image} options.size=64k
            query-jobs
            """;
        var result = await Blockctl.RunAsync(["--socket", daemon.Socket, "shell"], script, null, CancellationToken.None);
        Assert.True(result.ExitCode == 0, result.ToString());
        // The job's first events come before blockdev-create's (empty) reply; query-jobs then lists it.
        Assert.Matches(@"^event \S+ JOB_STATUS_CHANGE status=created id=c0\n", result.Stdout);
        Assert.Contains("id: c0\n", result.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Malformed_lines_are_reported_and_the_shell_goes_on(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartAsync(kind, Ct);
        string script = """
            {"execute": 
            {"arguments": {}}
            blockdev-add 'unterminated
            blockdev-add driver=null-co size=abc
            query-version
            """;
        var result = await Blockctl.RunAsync(["--socket", daemon.Socket, "shell"], script, null, CancellationToken.None);
        Assert.Equal(ExitCodes.CommandFailed, result.ExitCode);
        Assert.Equal(
            "blockctl: Not valid JSON: JSON parse error, premature EOI\n" +
            "blockctl: A QMP message needs \"execute\": \"COMMAND\"\n" +
            "blockctl: Unterminated ' quote\n" +
            "blockctl: Parameter 'size' expects an integer, not 'abc'\n", result.Stderr);
        Assert.Contains("major: 7", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_binary_reads_commands_from_a_pipe()
    {
        await using var daemon = await Daemon.StartAsync(DaemonKind.Blockd, Ct);
        using var process = Blockctl.StartProcess("--socket", daemon.Socket, "shell");
        await process.StandardInput.WriteAsync("blockdev-add driver=null-co node-name=p0\nquery-named-block-nodes\n".AsMemory(), Ct);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct).WaitAsync(Blockctl.Limit, Ct);
        Assert.True(process.ExitCode == 0, await stderr);
        Assert.Contains("node-name: p0\n", await stdout, StringComparison.Ordinal);
        // No prompt or banner when stdin is not a terminal.
        Assert.DoesNotContain("(blockctl)", await stdout, StringComparison.Ordinal);
    }
}
