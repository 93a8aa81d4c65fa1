using System.Diagnostics;
using BlockDaemon.Ctl.Cli;
using BlockDaemon.TestKit;

namespace BlockDaemon.Ctl.Tests.Daemons;

/// <summary>
/// Runs blockctl: in-process through CtlApp with captured text (most tests), or as the built
/// binary (the tests of the process itself: piped stdin, SIGINT).
/// </summary>
internal static class Blockctl
{
    /// <summary>No blockctl run in these tests may take longer; a hang fails instead of blocking the run.</summary>
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    public static Task<CtlResult> RunAsync(string socket, params string[] args) =>
        RunAsync(["--socket", socket, .. args], input: "", null, CancellationToken.None);

    /// <param name="interrupt">Stands in for Ctrl-C.</param>
    /// <param name="stderr">Captures stderr (a test can wait for a line on it); a new one when null.</param>
    public static async Task<CtlResult> RunAsync(IReadOnlyList<string> args, string input, NotifyingWriter? stderr, CancellationToken interrupt)
    {
        var stdout = new NotifyingWriter();
        stderr ??= new NotifyingWriter();
        var console = new CtlConsole(new StringReader(input), stdout, stderr, inputIsTerminal: false, errorIsTerminal: false)
        {
            // Tests never use the caller's $BLOCKCTL_SOCKET or history file.
            Environment = name => name == "XDG_RUNTIME_DIR" ? Environment.GetEnvironmentVariable(name) : null,
        };
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(Limit);
        int exit = await CtlApp.RunAsync(args, console, interrupt, limit.Token).WaitAsync(limit.Token);
        return new CtlResult(exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The built blockctl next to this test (the project reference copies it).</summary>
    public static string BinaryPath()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "blockctl");
        if (!File.Exists(path))
        {
            Assert.Skip($"blockctl is not built next to the tests ({path})");
        }
        return path;
    }

    public static Process StartProcess(params string[] args)
    {
        var info = DaemonLauncher.StartInfo(BinaryPath(), args);
        info.Environment.Remove("BLOCKCTL_SOCKET");
        info.Environment["BLOCKCTL_HISTORY"] = "/dev/null";
        return DaemonLauncher.Start(info);
    }
}
