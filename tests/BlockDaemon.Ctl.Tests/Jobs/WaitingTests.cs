using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Cli;
using BlockDaemon.Ctl.Tests.Daemons;
using BlockDaemon.TestKit;

namespace BlockDaemon.Ctl.Tests.Jobs;

/// <summary>
/// How waiting ends other than by success: --timeout and Ctrl-C leave the job running (or cancel
/// it with --abort-on-interrupt), a failed job exits 1; and blockctl wait follows any job, such as
/// blockdev-create, which blockd already has.
/// </summary>
public sealed class WaitingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A stream of 32 MiB at 64 KiB/s: it runs for minutes, longer than any of these tests.</summary>
    private static readonly string[] SlowStream = ["stream", "top", "--speed", "64k"];

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Timeout_leaves_the_job_running_and_says_so(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartRequiringAsync(kind, Ct, "block-stream");
        await ImageChain.CreateAsync(daemon, Ct);

        var result = await Blockctl.RunAsync(daemon.Socket, [.. SlowStream, "--timeout", "0.5"]);
        Assert.True(result.ExitCode == ExitCodes.TimedOut, result.ToString());
        Assert.StartsWith("blockctl: timed out after 0.5 s; job 'top' is still running", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("and was left running (follow it with 'blockctl wait top', cancel it with 'blockctl job-cancel id=top')", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("running", await StatusAsync(daemon, "top"));
    }

    [Theory]
    [InlineData(DaemonKind.Qsd, false)]
    [InlineData(DaemonKind.Qsd, true)]
    [InlineData(DaemonKind.Blockd, false)]
    [InlineData(DaemonKind.Blockd, true)]
    public async Task Interrupt_leaves_the_job_running_unless_asked_to_abort(DaemonKind kind, bool abort)
    {
        await using var daemon = await Daemon.StartRequiringAsync(kind, Ct, "block-stream");
        await ImageChain.CreateAsync(daemon, Ct);

        using var interrupt = new CancellationTokenSource();
        string[] args = ["--socket", daemon.Socket, .. SlowStream, "--wait", .. (abort ? new[] { "--abort-on-interrupt" } : [])];
        var run = Blockctl.RunAsync(args, "", null, interrupt.Token);
        await WaitForStatusAsync(daemon, "top", s => s == "running");
        await interrupt.CancelAsync();
        var result = await run;

        Assert.True(result.ExitCode == ExitCodes.Interrupted, result.ToString());
        if (abort)
        {
            Assert.Contains("blockctl: job 'top' was cancelled on interrupt", result.Stderr, StringComparison.Ordinal);
            Assert.Null(await StatusAsync(daemon, "top"));
        }
        else
        {
            Assert.StartsWith("blockctl: interrupted; job 'top' is still running", result.Stderr, StringComparison.Ordinal);
            Assert.Equal("running", await StatusAsync(daemon, "top"));
        }
    }

    [Fact]
    public async Task Sigint_to_the_binary_leaves_the_job_running()
    {
        await using var daemon = await Daemon.StartAsync(DaemonKind.Qsd, Ct);
        await ImageChain.CreateAsync(daemon, Ct);
        using var process = Blockctl.StartProcess(["--socket", daemon.Socket, .. SlowStream, "--wait"]);
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await WaitForStatusAsync(daemon, "top", s => s == "running");
        await ExternalTools.RunAsync("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], Ct);
        await process.WaitForExitAsync(Ct).WaitAsync(Blockctl.Limit, Ct);
        Assert.True(process.ExitCode == ExitCodes.Interrupted, await stdout + await stderr);
        Assert.StartsWith("blockctl: interrupted; job 'top' is still running", await stderr, StringComparison.Ordinal);
        Assert.Equal("running", await StatusAsync(daemon, "top"));
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Wait_follows_blockdev_create_and_dismisses_it(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartAsync(kind, Ct);
        await Create(daemon, "c0", daemon.Dir["new.img"]);

        var result = await Blockctl.RunAsync(daemon.Socket, "wait", "c0", "--dismiss", "--verbose");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("Job 'c0' completed\n", result.Stdout);
        Assert.Null(await StatusAsync(daemon, "c0"));
        Assert.True(File.Exists(daemon.Dir["new.img"]));
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Wait_reports_a_failed_job_and_exits_one(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartAsync(kind, Ct);
        string impossible = daemon.Dir["no-such-dir/new.img"];
        await Create(daemon, "c1", impossible);

        var result = await Blockctl.RunAsync(daemon.Socket, "wait", "c1");
        Assert.Equal(ExitCodes.CommandFailed, result.ExitCode);
        Assert.Equal($"blockctl: job 'c1' failed: Could not create '{impossible}': No such file or directory\n", result.Stderr);
        // Without --dismiss the concluded job stays for others to see.
        Assert.Equal("concluded", await StatusAsync(daemon, "c1"));
    }

    [Theory]
    [InlineData(DaemonKind.Qsd)]
    [InlineData(DaemonKind.Blockd)]
    public async Task Wait_for_an_unknown_job_exits_one(DaemonKind kind)
    {
        await using var daemon = await Daemon.StartAsync(kind, Ct);
        var result = await Blockctl.RunAsync(daemon.Socket, "wait", "ghost");
        Assert.Equal(ExitCodes.CommandFailed, result.ExitCode);
        Assert.Equal("blockctl: query-jobs: No job with id 'ghost' (GenericError)\n", result.Stderr);
    }

    private static async Task Create(Daemon daemon, string jobId, string path) =>
        await daemon.Qmp.ExecuteAsync("blockdev-create", new JsonObject
        {
            ["job-id"] = jobId,
            ["options"] = new JsonObject { ["driver"] = "file", ["filename"] = path, ["size"] = 1 << 20 },
        }, Ct);

    private static async Task<string?> StatusAsync(Daemon daemon, string jobId)
    {
        var jobs = await daemon.Qmp.ExecuteAsync("query-jobs", null, Ct) as JsonArray ?? [];
        return jobs.OfType<JsonObject>().Where(j => (string?)j["id"] == jobId).Select(j => (string?)j["status"]).SingleOrDefault();
    }

    private static async Task WaitForStatusAsync(Daemon daemon, string jobId, Func<string?, bool> condition)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(Blockctl.Limit);
        while (!condition(await StatusAsync(daemon, jobId)))
        {
            await Task.Delay(50, limit.Token);
        }
    }
}
