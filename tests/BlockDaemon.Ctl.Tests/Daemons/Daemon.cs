using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using BlockDaemon.Ctl.Qmp;
using BlockDaemon.TestKit;

namespace BlockDaemon.Ctl.Tests.Daemons;

/// <summary>
/// A qsd or blockd serving QMP on a Unix socket in its own temp directory (started through
/// SpawnGate), with a QMP connection for the test's own setup and checks. Disposing kills the
/// daemon and removes the directory. A test skips when qsd is not installed or blockd not built.
/// </summary>
internal sealed class Daemon : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly StringBuilder _stderr = new();

    // qsd serves one client per monitor at a time: the test's own connection gets a monitor of
    // its own, so blockctl never waits behind it.
    private readonly string _testSocket;

    private Daemon(DaemonKind kind, TempDirectory dir, Process process, string socket, string testSocket)
    {
        Kind = kind;
        Dir = dir;
        _process = process;
        Socket = socket;
        _testSocket = testSocket;
    }


    public DaemonKind Kind { get; }

    public TempDirectory Dir { get; }

    public string Socket { get; }

    /// <summary>The test's own connection (events it receives are not the ones blockctl sees).</summary>
    public QmpClient Qmp { get; private set; } = null!;

    /// <param name="pretty">Serve blockctl's monitor with pretty=on (each message over many lines).</param>
    public static async Task<Daemon> StartAsync(DaemonKind kind, CancellationToken ct, bool pretty = false)
    {
        string binary = kind == DaemonKind.Qsd ? RequireQsd() : DaemonLauncher.BuiltBlockdPath();
        var dir = new TempDirectory("blockctl-test-");
        string socket = dir["qmp.sock"];
        string testSocket = dir["test-qmp.sock"];
        string[] args =
        [
            "--chardev", $"socket,id=m0,path={socket},server=on,wait=off", "--monitor", pretty ? "chardev=m0,pretty=on" : "chardev=m0",
            "--chardev", $"socket,id=m1,path={testSocket},server=on,wait=off", "--monitor", "chardev=m1",
        ];
        var daemon = new Daemon(kind, dir, DaemonLauncher.Start(binary, args), socket, testSocket);
        daemon._process.ErrorDataReceived += (_, e) =>
        {
            lock (daemon._stderr)
            {
                daemon._stderr.AppendLine(e.Data);
            }
        };
        daemon._process.BeginErrorReadLine();
        _ = daemon._process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        try
        {
            daemon.Qmp = await daemon.ConnectAsync(ct);
            return daemon;
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
    }

    /// <summary>The test's QMP connection, retried until the daemon listens.</summary>
    private async Task<QmpClient> ConnectAsync(CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            if (_process.HasExited)
            {
                Assert.Fail($"{Kind} exited with {_process.ExitCode} before serving QMP: {Stderr}");
            }
            try
            {
                return await QmpClient.ConnectAsync(_testSocket, ct);
            }
            catch (QmpConnectionException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, ct);
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Whether the daemon has <paramref name="command"/>; blockd lacks the jobs still being built.</summary>
    public async Task<bool> HasCommandAsync(string command, CancellationToken ct)
    {
        var commands = await Qmp.ExecuteAsync("query-commands", null, ct) as System.Text.Json.Nodes.JsonArray ?? [];
        return commands.Any(c => c?["name"]?.GetValue<string>() == command);
    }

    /// <summary>
    /// <see cref="StartAsync"/>, then <see cref="RequireCommandsAsync"/>: the daemon a job test
    /// needs, stopped again when the test is skipped because <paramref name="kind"/> lacks a command.
    /// </summary>
    public static async Task<Daemon> StartRequiringAsync(DaemonKind kind, CancellationToken ct, params string[] commands)
    {
        var daemon = await StartAsync(kind, ct);
        try
        {
            await daemon.RequireCommandsAsync(ct, commands);
            return daemon;
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
    }

    /// <summary>Skips the test (with the reason) when the daemon answers <paramref name="commands"/> with CommandNotFound.</summary>
    public async Task RequireCommandsAsync(CancellationToken ct, params string[] commands)
    {
        foreach (string command in commands)
        {
            if (!await HasCommandAsync(command, ct))
            {
                Assert.Skip($"{Kind} does not implement {command} yet (not in query-commands; it answers CommandNotFound)");
            }
        }
    }

    /// <summary>Ends the daemon with quit, so images are closed cleanly before qemu-img looks at them.</summary>
    public async Task QuitAsync(CancellationToken ct)
    {
        try
        {
            await Qmp.ExecuteAsync("quit", null, ct);
        }
        catch (QmpConnectionException)
        {
            // It may hang up before answering.
        }
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(StartTimeout);
        await _process.WaitForExitAsync(limit.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (Qmp is not null)
        {
            await Qmp.DisposeAsync();
        }
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
        _process.Dispose();
        Dir.Dispose();
    }

    private static string RequireQsd()
    {
        ExternalTools.Require("qemu-storage-daemon");
        return ExternalTools.Find("qemu-storage-daemon")!;
    }
}
