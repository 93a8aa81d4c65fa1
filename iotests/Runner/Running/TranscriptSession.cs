using System.Globalization;
using System.Net.Sockets;
using BlockDaemon.IoTests.Daemon;
using BlockDaemon.IoTests.Output;
using BlockDaemon.IoTests.Qmp;
using BlockDaemon.IoTests.Transcript;

namespace BlockDaemon.IoTests.Running;

/// <summary>
/// The state of one transcript being replayed: the daemon, the QMP clients, and the output
/// printed so far. Daemon steps are here, QMP steps in TranscriptSession.Qmp.cs.
/// </summary>
public sealed partial class TranscriptSession : IAsyncDisposable
{
    private readonly RunnerSettings _settings;
    private readonly string _testDir;
    private readonly string _testsDirectory;
    private readonly string _sock;
    private readonly OutputFilters _filters;
    private readonly Variables _variables;
    private readonly List<string> _output = [];
    private DaemonProcess? _daemon;
    private bool _daemonEverStarted;

    /// <param name="settings">The daemon and the time limits.</param>
    /// <param name="testDir">A fresh, empty TEST_DIR, owned by the caller.</param>
    /// <param name="testsDirectory">The directory holding the transcripts (TESTS_DIR, for helper files).</param>
    public TranscriptSession(RunnerSettings settings, string testDir, string testsDirectory)
    {
        _settings = settings;
        _testDir = testDir;
        _testsDirectory = testsDirectory;
        _sock = Path.Combine(testDir, "qmp.sock");
        _filters = new OutputFilters(testDir, _sock);
        _variables = new Variables(new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["TEST_DIR"] = testDir,
            ["SOCK"] = _sock,
        });
    }

    /// <summary>Everything printed so far, one line per entry, each ending in a newline.</summary>
    public string Output => _output.Count == 0 ? string.Empty : string.Join('\n', _output) + "\n";

    /// <summary>Replays the steps in order; the first step that cannot be carried out throws <see cref="TranscriptFailureException"/>.</summary>
    public async Task RunAsync(IReadOnlyList<Step> steps, CancellationToken ct)
    {
        foreach (var step in steps)
        {
            try
            {
                await ExecuteAsync(step, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is TranscriptFailureException or TranscriptFormatException or TimeoutException or SocketException or IOException or InvalidOperationException)
            {
                throw new TranscriptFailureException($"line {step.Line}: {e.Message}", e);
            }
        }
    }

    private Task ExecuteAsync(Step step, CancellationToken ct) => step.Kind switch
    {
        StepKind.Daemon => StartDaemonAsync(step.Text, echo: true, ct),
        StepKind.DaemonFail => RunFailingDaemonAsync(step.Text, ct),
        StepKind.Stop => StopDaemonAsync(ct),
        StepKind.WaitExit => WaitForDaemonExitAsync(ct),
        StepKind.Client => SelectClientAsync(step.Text, ct),
        StepKind.Close => CloseClientAsync(ct),
        StepKind.Command => CommandAsync(step.Text, saveAs: null, ct),
        StepKind.Save => SaveAsync(step, ct),
        StepKind.Send => SendAsync(step.Text, ct),
        StepKind.Recv => ReceiveAsync(raw: false, ct),
        StepKind.RecvRaw => ReceiveAsync(raw: true, ct),
        StepKind.RecvEof => ReceiveEofAsync(ct),
        StepKind.Wait => WaitForEventAsync(step.Text, ct),
        StepKind.Shell => ShellAsync(step.Text, ct),
        StepKind.Require => Task.CompletedTask, // decided before the run starts
        _ => throw new InvalidOperationException($"unhandled step kind {step.Kind}"),
    };

    private void Print(string text)
    {
        if (text.Length == 0)
        {
            return;
        }

        var lines = text.Split('\n');
        _output.AddRange(text.EndsWith('\n') ? lines[..^1] : lines);
    }

    private static string Echo(string keyword, string text) => text.Length == 0 ? keyword : keyword + " " + text;

    private IEnumerable<string> DaemonArguments(string extra) =>
        new[]
        {
            "--chardev", $"socket,id=qmp0,path={_sock},server=on,wait=off",
            "--monitor", "chardev=qmp0",
        }.Concat(WordSplitter.Split(extra, _variables));

    private async Task StartDaemonAsync(string extra, bool echo, CancellationToken ct)
    {
        if (echo)
        {
            Print(_filters.FilterText(Echo("@daemon", _variables.Expand(extra))));
        }

        await EnsureDaemonStoppedAsync(ct).ConfigureAwait(false);
        var arguments = DaemonArguments(extra).ToList();
        _daemon = DaemonProcess.Start(_settings.DaemonPath, arguments, _testDir);
        _daemonEverStarted = true;
        if (!await SocketReadiness.WaitAsync(_sock, _daemon, _settings.ReadTimeout, ct).ConfigureAwait(false))
        {
            // Printed rather than thrown: a daemon that refuses a command line is an answer too.
            await PrintDaemonExitAsync(ct).ConfigureAwait(false);
        }
    }

    private async Task RunFailingDaemonAsync(string extra, CancellationToken ct)
    {
        Print(_filters.FilterText(Echo("@daemon-fail", _variables.Expand(extra))));
        if (_daemon is { HasExited: false })
        {
            throw new TranscriptFailureException("@daemon-fail while a daemon is running (it would share SOCK): @stop it first");
        }

        await using var daemon = DaemonProcess.Start(_settings.DaemonPath, DaemonArguments(extra).ToList(), _testDir);
        var exitCode = await daemon.WaitForExitAsync(_settings.DaemonFailTimeout, ct).ConfigureAwait(false)
            ?? throw new TranscriptFailureException($"the daemon did not exit within {_settings.DaemonFailTimeout.TotalSeconds:0.#} s");
        Print(_filters.FilterDaemonStderr(await daemon.ReadStderrAsync(_settings.ReadTimeout, ct).ConfigureAwait(false)));
        Print(string.Create(CultureInfo.InvariantCulture, $"[exit {exitCode}]"));
    }

    private async Task StopDaemonAsync(CancellationToken ct)
    {
        Print("@stop");
        var daemon = _daemon ?? throw new TranscriptFailureException("@stop without a daemon");
        await daemon.TerminateAsync(ct).ConfigureAwait(false);
        await PrintDaemonExitAsync(ct).ConfigureAwait(false);
    }

    private async Task WaitForDaemonExitAsync(CancellationToken ct)
    {
        Print("@wait-exit");
        _ = _daemon ?? throw new TranscriptFailureException("@wait-exit without a daemon");
        await PrintDaemonExitAsync(ct).ConfigureAwait(false);
    }

    // Waits (bounded) for the current daemon to exit, prints its stderr and exit code, forgets it.
    private async Task PrintDaemonExitAsync(CancellationToken ct)
    {
        var daemon = _daemon!;
        var exitCode = await daemon.WaitForExitAsync(_settings.ReadTimeout, ct).ConfigureAwait(false)
            ?? throw new TranscriptFailureException($"the daemon did not exit within {_settings.ReadTimeout.TotalSeconds:0.#} s");
        Print(_filters.FilterDaemonStderr(await daemon.ReadStderrAsync(_settings.ReadTimeout, ct).ConfigureAwait(false)));
        Print(string.Create(CultureInfo.InvariantCulture, $"[daemon exit {exitCode}]"));
        await daemon.DisposeAsync().ConfigureAwait(false);
        _daemon = null;
    }

    // Before a restart: drop the clients and end the old daemon quietly (SIGTERM, then SIGKILL).
    private async Task EnsureDaemonStoppedAsync(CancellationToken ct)
    {
        await CloseClientsAsync().ConfigureAwait(false);
        if (_daemon is null)
        {
            return;
        }

        await _daemon.TerminateAsync(ct).ConfigureAwait(false);
        await _daemon.WaitForExitAsync(_settings.ReadTimeout, ct).ConfigureAwait(false);
        await _daemon.DisposeAsync().ConfigureAwait(false);
        _daemon = null;
    }

    private async Task ShellAsync(string command, CancellationToken ct)
    {
        Print(_filters.FilterText("$ " + command));
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["TEST_DIR"] = _testDir,
            ["TESTS_DIR"] = _testsDirectory,
            ["SOCK"] = _sock,
            ["DAEMON"] = _settings.Daemon.Name(),
            ["DAEMON_BIN"] = _settings.DaemonPath,
            ["QEMU_IMG"] = _settings.QemuImg,
            ["QEMU_IO"] = _settings.QemuIo,
        };
        var result = await ShellCommand.RunAsync(command, _testDir, environment, _settings.ShellTimeout, ct).ConfigureAwait(false);
        Print(_filters.FilterDaemonStderr(result.Output));
        if (result.ExitCode != 0)
        {
            Print(string.Create(CultureInfo.InvariantCulture, $"[exit {result.ExitCode}]"));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CloseClientsAsync().ConfigureAwait(false);
        if (_daemon is not null)
        {
            await _daemon.DisposeAsync().ConfigureAwait(false);
            _daemon = null;
        }
    }
}
