using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Cli;
using BlockDaemon.Ctl.Jobs;
using BlockDaemon.Ctl.Output;
using BlockDaemon.Ctl.Qmp;

namespace BlockDaemon.Ctl.Tests.Unit;

public sealed class OutputTests
{
    [Fact]
    public void Replies_print_as_indented_key_value_lines()
    {
        var reply = JsonNode.Parse("""{"a": 1, "b": {"c": "text", "d": [1, {"e": true, "f": null}], "g": []}, "h": "12", "i": "", "j": {}}""");
        Assert.Equal("""
            a: 1
            b:
              c: text
              d:
                - 1
                - e: true
                  f: null
              g: []
            h: "12"
            i: ""
            j: {}

            """.Replace("\r\n", "\n", StringComparison.Ordinal), ReadablePrinter.Format(reply));
    }

    [Fact]
    public void Empty_return_prints_nothing_and_lists_print_items()
    {
        Assert.Equal("", ReadablePrinter.Format(new JsonObject()));
        Assert.Equal("[]\n", ReadablePrinter.Format(new JsonArray()));
        Assert.Equal("- x\n- \"true\"\n- false\n", ReadablePrinter.Format(JsonNode.Parse("""["x", "true", false]""")));
        Assert.Equal("42\n", ReadablePrinter.Format(JsonValue.Create(42)));
    }

    [Fact]
    public void Json_is_escaped_only_where_json_requires()
    {
        Assert.Equal("{\"p\":\"7.2+dfsg <é>\",\"q\":\"a\\\"b\\n\"}", JsonText.Compact(JsonNode.Parse("""{"p": "7.2+dfsg <é>", "q": "a\"b\n"}""")));
        Assert.Equal("null", JsonText.Compact(null));
    }

    [Fact]
    public void Events_print_on_one_line()
    {
        var e = QmpEvent.FromMessage(JsonNode.Parse("""{"event": "JOB_STATUS_CHANGE", "data": {"status": "running", "id": "j0"}, "timestamp": {"seconds": 1700000000, "microseconds": 5}}""")!.AsObject());
        Assert.Equal("2023-11-14T22:13:20.000005Z JOB_STATUS_CHANGE status=running id=j0", EventFormatter.Format(e, json: false));
        Assert.StartsWith("{\"event\":\"JOB_STATUS_CHANGE\"", EventFormatter.Format(e, json: true), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("JOB_STATUS_CHANGE", "JOB_STATUS_CHANGE", true)]
    [InlineData("job_status_change", "JOB_STATUS_CHANGE", true)]
    [InlineData("BLOCK_JOB_*", "BLOCK_JOB_READY", true)]
    [InlineData("*READY", "BLOCK_JOB_READY", true)]
    [InlineData("BLOCK_JOB_*", "JOB_STATUS_CHANGE", false)]
    [InlineData("JOB", "JOB_STATUS_CHANGE", false)]
    public void Event_name_patterns(string pattern, string name, bool matches)
    {
        Assert.Equal(matches, EventsCommand.Matches(pattern, name));
    }

    [Fact]
    public void Progress_bar_renders_and_writes_a_line_per_ten_percent_on_a_pipe()
    {
        Assert.Equal("Block Commit: [###############...............]  50 % (32.0 MiB of 64.0 MiB)", ProgressBar.Render("Block Commit", 32 << 20, 64 << 20));
        Assert.Equal("X: [..............................]   0 % (0 B of 0 B)", ProgressBar.Render("X", 0, 0));
        var writer = new StringWriter();
        var bar = new ProgressBar(writer, "X", terminal: false);
        foreach (long done in new long[] { 0, 1, 5, 10, 11, 55, 100 })
        {
            bar.Update(done, 100);
        }
        bar.Finish();
        Assert.Equal(["0 %", "10 %", "55 %", "100 %"], writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split("] ")[1].Split(" (")[0].Trim()));
    }

    [Fact]
    public void Global_options_are_found_anywhere_before_a_double_dash()
    {
        var options = GlobalOptions.Parse(["query-jobs", "--json", "-s", "/x", "a=1", "--", "--json"]);
        Assert.True(options.Json);
        Assert.Equal("/x", options.Socket);
        Assert.Equal(["query-jobs", "a=1", "--json"], options.Rest);
        Assert.Throws<UsageException>(() => GlobalOptions.Parse(["--socket"]));
    }

    [Fact]
    public void Default_socket_follows_blockd()
    {
        string runtime = Path.GetTempPath();
        Assert.Equal(Path.Combine(runtime, "blockd", "qmp.sock"), DefaultSocketPath.Resolve(n => n == "XDG_RUNTIME_DIR" ? runtime : null));
        Assert.Equal(Path.GetFullPath("blockd.sock"), DefaultSocketPath.Resolve(_ => null));
        Assert.Equal("/e.sock", DefaultSocketPath.Resolve(n => n == "BLOCKCTL_SOCKET" ? "/e.sock" : runtime));
    }

    [Fact]
    public async Task Usage_errors_exit_two_without_connecting()
    {
        string nowhere = Path.Combine(Path.GetTempPath(), $"no-daemon-{Guid.NewGuid():N}.sock");
        var console = new CtlConsole(new StringReader(""), new StringWriter(), new StringWriter(), false, false);
        Assert.Equal(ExitCodes.Usage, await CtlApp.RunAsync([], console, CancellationToken.None, TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.Usage, await CtlApp.RunAsync(["-s", nowhere, "commit"], console, CancellationToken.None, TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.Usage, await CtlApp.RunAsync(["-s", nowhere, "commit", "top", "--bogus"], console, CancellationToken.None, TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.Usage, await CtlApp.RunAsync(["-s", nowhere, "commit", "top", "--top", "mid", "--pivot"], console, CancellationToken.None, TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.Usage, await CtlApp.RunAsync(["-s", nowhere, "mirror", "a", "b", "--pivot", "--finish"], console, CancellationToken.None, TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.Usage, await CtlApp.RunAsync(["-s", nowhere, "backup", "a", "b", "--incremental", "b0", "--sync", "full"], console, CancellationToken.None, TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.Usage, await CtlApp.RunAsync(["-s", nowhere, "stream", "a", "--timeout", "-1"], console, CancellationToken.None, TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.Usage, await CtlApp.RunAsync(["-s", nowhere, "a=b"], console, CancellationToken.None, TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.Success, await CtlApp.RunAsync(["commit", "--help"], console, CancellationToken.None, TestContext.Current.CancellationToken));
        Assert.Equal(ExitCodes.Success, await CtlApp.RunAsync(["--help"], console, CancellationToken.None, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task No_daemon_exits_three()
    {
        string nowhere = Path.Combine(Path.GetTempPath(), $"no-daemon-{Guid.NewGuid():N}.sock");
        var error = new StringWriter();
        var console = new CtlConsole(new StringReader(""), new StringWriter(), error, false, false);
        Assert.Equal(ExitCodes.ConnectionFailed, await CtlApp.RunAsync(["-s", nowhere, "query-version"], console, CancellationToken.None, TestContext.Current.CancellationToken));
        Assert.Contains($"Cannot connect to the QMP socket '{nowhere}'", error.ToString(), StringComparison.Ordinal);
    }
}
