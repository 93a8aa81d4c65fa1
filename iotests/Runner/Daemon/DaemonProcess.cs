using System.Diagnostics;

namespace BlockDaemon.IoTests.Daemon;

/// <summary>
/// A daemon process started by the runner: its stderr is collected for printing, its stdout is
/// drained (so a chatty daemon cannot block on a full pipe), and its stdin is closed.
/// </summary>
public sealed class DaemonProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stderr;
    private readonly Task<string> _stdout;

    private DaemonProcess(Process process)
    {
        _process = process;
        _stderr = process.StandardError.ReadToEndAsync();
        _stdout = process.StandardOutput.ReadToEndAsync();
    }

    public bool HasExited => _process.HasExited;

    public static DaemonProcess Start(string binary, IEnumerable<string> arguments, string workingDirectory)
    {
        var info = new ProcessStartInfo(binary)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {binary}");
        process.StandardInput.Close();
        return new DaemonProcess(process);
    }

    /// <summary>Waits for the process to exit; returns its exit code, or null if it still runs after <paramref name="timeout"/>.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }

        return _process.ExitCode;
    }

    /// <summary>
    /// Everything the daemon wrote to stderr. Completes once the pipe closes, i.e. after exit
    /// (unless a child kept it open, which a bounded wait guards against).
    /// </summary>
    public async Task<string> ReadStderrAsync(TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            return await _stderr.WaitAsync(timeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return "(stderr still open after the daemon exited)\n";
        }
    }

    /// <summary>Sends SIGTERM, as a service manager would. .NET itself can only send SIGKILL.</summary>
    public async Task TerminateAsync(CancellationToken ct)
    {
        if (_process.HasExited)
        {
            return;
        }

        using var kill = Process.Start(new ProcessStartInfo("kill")
        {
            ArgumentList = { "-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            UseShellExecute = false,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("could not start kill");
        await kill.WaitForExitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>SIGKILLs the daemon if it still runs; never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            await Task.WhenAll(_stderr, _stdout).WaitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception or IOException)
        {
            // Best effort: the process is gone or cannot be reaped; the temp dir goes anyway.
        }
        finally
        {
            _process.Dispose();
        }
    }
}
