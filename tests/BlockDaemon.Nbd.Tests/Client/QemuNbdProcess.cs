using System.Diagnostics;
using System.Net.Sockets;
using BlockDaemon.Nbd.Tests.Interop;
using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Client;

/// <summary>A qemu-nbd serving one image on a Unix socket in a temp directory, killed on dispose.</summary>
internal sealed class QemuNbdProcess : IDisposable
{
    private readonly Process _process;
    private bool _disposed;

    private QemuNbdProcess(Process process, string socketPath)
    {
        _process = process;
        SocketPath = socketPath;
    }

    public string SocketPath { get; }

    /// <summary>Starts qemu-nbd (skipping the test when it is not installed) and waits until it accepts connections.</summary>
    public static async Task<QemuNbdProcess> StartAsync(string socketPath, string image, string format, string export, params string[] extra)
    {
        ExternalTools.Require("qemu-nbd");
        var info = new ProcessStartInfo(ExternalTools.Find("qemu-nbd")!)
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (string arg in (string[])["-k", socketPath, "-f", format, "-x", export, "--persistent", "--cache=writeback", .. extra, image])
        {
            info.ArgumentList.Add(arg);
        }
        var server = new QemuNbdProcess(SpawnGate.Start(info), socketPath);
        for (int i = 0; i < 200; i++)
        {
            if (server._process.HasExited)
            {
                Assert.Fail($"qemu-nbd exited: {await server._process.StandardError.ReadToEndAsync()}");
            }
            if (File.Exists(socketPath))
            {
                using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await probe.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
                    return server;
                }
                catch (SocketException)
                {
                }
            }
            await Task.Delay(25);
        }
        server.Dispose();
        Assert.Fail("qemu-nbd did not start listening");
        return null!;
    }

    /// <summary>Kills qemu-nbd at once, as a crashed server would vanish.</summary>
    public void Kill()
    {
        if (!_disposed && !_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit(10_000);
        }
    }

    public void Dispose()
    {
        Kill();
        _disposed = true;
        _process.Dispose();
    }
}
