using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using BlockDaemon.TestKit;

namespace BlockDaemon.Tests;

/// <summary>Runs the built blockd binary; tests skip (not pass) when it has not been built.</summary>
internal static class Blockd
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    public static string BinaryPath() => DaemonLauncher.BuiltBlockdPath();

    public static Process Start(IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var info = DaemonLauncher.StartInfo(BinaryPath(), args);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }
        return DaemonLauncher.Start(info);
    }

    /// <summary>Runs blockd to completion; returns exit code, stdout and stderr.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        using var process = Start(args);
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(Timeout, TestContext.Current.CancellationToken);
            return (process.ExitCode, await stdout, await stderr);
        }
        finally
        {
            Kill(process);
        }
    }

    public static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
    }

    public static void KillPid(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            Kill(process);
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
    }

    public static void Signal(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(kill.WaitForExit(5000));
        Assert.Equal(0, kill.ExitCode);
    }

    public static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "Timed out waiting for " + what);
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>A QMP client over a Unix socket, reading "\r\n"-terminated lines with a timeout.</summary>
internal sealed class UnixQmpClient : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly MemoryStream _pending = new();
    private readonly byte[] _buffer = new byte[65536];

    private UnixQmpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Connects, retrying until the socket accepts, within the timeout.</summary>
    public static async Task<UnixQmpClient> ConnectAsync(string path)
    {
        var deadline = DateTime.UtcNow + Blockd.Timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), TestContext.Current.CancellationToken);
                return new UnixQmpClient(socket);
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket.Dispose();
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    public async Task<JsonObject> ReadAsync()
    {
        while (true)
        {
            var data = _pending.GetBuffer().AsSpan(0, (int)_pending.Length);
            int newline = data.IndexOf("\r\n"u8);
            if (newline >= 0)
            {
                string line = Encoding.ASCII.GetString(data[..newline]);
                var rest = data[(newline + 2)..].ToArray();
                _pending.SetLength(0);
                _pending.Write(rest);
                return JsonNode.Parse(line)!.AsObject();
            }
            int n = await _stream.ReadAsync(_buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(Blockd.Timeout, TestContext.Current.CancellationToken);
            Assert.True(n > 0, "blockd closed the QMP connection");
            _pending.Write(_buffer, 0, n);
        }
    }

    /// <summary>Reads the greeting and negotiates.</summary>
    public async Task NegotiateAsync()
    {
        var greeting = await ReadAsync();
        Assert.Equal(7, (int)greeting["QMP"]!["version"]!["qemu"]!["major"]!);
        Assert.True((await CommandAsync("""{"execute": "qmp_capabilities"}""")).ContainsKey("return"));
    }

    /// <summary>Sends a command and returns the next non-event message.</summary>
    public async Task<JsonObject> CommandAsync(string request)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(request + "\n"), TestContext.Current.CancellationToken);
        while (true)
        {
            var message = await ReadAsync();
            if (!message.ContainsKey("event"))
            {
                return message;
            }
        }
    }

    public void Dispose()
    {
        _stream.Dispose();
        _socket.Dispose();
    }
}
