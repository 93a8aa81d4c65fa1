using System.Diagnostics;
using System.Net.Sockets;
using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Interop;

/// <summary>
/// qemu-storage-daemon or the built blockd binary, started with the same qsd command line and
/// killed on dispose. Tests skip when qsd is not installed or blockd has not been built.
/// </summary>
internal sealed class StorageDaemonProcess : IDisposable
{
    private readonly Process _process;

    private StorageDaemonProcess(Process process) => _process = process;

    public static string BlockdPath() => DaemonLauncher.BuiltBlockdPath();

    /// <summary>Starts <paramref name="daemon"/> ("qsd" or "blockd") and waits until <paramref name="socketPath"/> accepts connections.</summary>
    public static async Task<StorageDaemonProcess> StartAsync(string daemon, string socketPath, params string[] args)
    {
        string binary;
        if (daemon == "qsd")
        {
            ExternalTools.Require("qemu-storage-daemon");
            binary = ExternalTools.Find("qemu-storage-daemon")!;
        }
        else
        {
            binary = BlockdPath();
        }
        var daemonProcess = new StorageDaemonProcess(DaemonLauncher.Start(binary, args));
        for (int i = 0; i < 400; i++)
        {
            if (daemonProcess._process.HasExited)
            {
                Assert.Fail($"{daemon} exited: {await daemonProcess._process.StandardError.ReadToEndAsync()}");
            }
            if (File.Exists(socketPath))
            {
                using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await probe.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
                    return daemonProcess;
                }
                catch (SocketException)
                {
                }
            }
            await Task.Delay(25);
        }
        daemonProcess.Dispose();
        Assert.Fail($"{daemon} did not start listening on {socketPath}");
        return null!;
    }

    private bool _disposed;

    /// <summary>Kills the daemon; a second call does nothing.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
    }
}
