using BlockDaemon.TestKit;
using System.Diagnostics;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// The built blockd binary, started with a QMP monitor on a Unix socket. Disposing kills it
/// (SIGKILL) if it is still running; <see cref="KillHard"/> does that on purpose, mid-work.
/// </summary>
internal sealed class BlockdProcess : IDisposable
{
    private readonly Process _process;

    private BlockdProcess(Process process, string socket)
    {
        _process = process;
        Socket = socket;
    }

    public string Socket { get; }

    /// <summary>src/BlockDaemon/bin/Debug/net10.0/blockd above the test binary; skips the test when not built.</summary>
    public static string BinaryPath() => DaemonLauncher.BuiltBlockdPath();

    public static BlockdProcess Start(string socket)
    {
        var process = DaemonLauncher.Start(BinaryPath(), new[] { "--chardev", $"socket,id=m,path={socket},server=on,wait=off", "--monitor", "chardev=m" });
        // Drain its output so a chatty daemon never blocks on a full pipe.
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        return new BlockdProcess(process, socket);
    }

    /// <summary>SIGKILL: no flush, no close, no handler runs — what a crash of the daemon leaves.</summary>
    public async Task KillHardAsync(CancellationToken ct)
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
        }
        await _process.WaitForExitAsync(ct);
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }
        }
        catch (InvalidOperationException)
        {
            // Already reaped.
        }
        _process.Dispose();
    }
}
