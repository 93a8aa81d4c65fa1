using System.Diagnostics;
using System.Net.Sockets;

namespace BlockDaemon.Bench.QmpLatency;

/// <summary>
/// Starts a daemon the way qsd is started in production (QMP monitor on a Unix socket server, null-co
/// nodes given on the command line) and polls the socket until it accepts and greets.
/// </summary>
internal sealed class DaemonLauncher
{
    private const int MaxUnixSocketPath = 107; // sun_path is 108 bytes including the terminating NUL

    private readonly string _socketDirectory;
    private readonly int _nodes;
    private readonly TimeSpan _timeout;
    private int _sequence;

    public DaemonLauncher(string socketDirectory, int nodes, TimeSpan timeout)
    {
        _socketDirectory = socketDirectory;
        _nodes = nodes;
        _timeout = timeout;
    }

    /// <summary>The node names the daemon is started with: n0..n(N-1).</summary>
    public IEnumerable<string> NodeNames => Enumerable.Range(0, _nodes).Select(i => $"n{i}");

    /// <exception cref="BenchException">The daemon cannot be started, dies, or does not greet in time.</exception>
    public async Task<RunningDaemon> LaunchAsync(DaemonSpec spec, CancellationToken cancellationToken)
    {
        // A fresh socket path for every start: a stale socket file from a previous run must never be
        // mistaken for the new daemon being ready.
        string socketPath = Path.Combine(_socketDirectory, $"{spec.Label}-{++_sequence}.sock");
        if (System.Text.Encoding.UTF8.GetByteCount(socketPath) > MaxUnixSocketPath)
            throw new BenchException($"socket path too long for a Unix socket: {socketPath}");

        DaemonProcess process = DaemonProcess.Start(spec, Arguments(socketPath));
        try
        {
            (QmpClient client, QmpGreeting greeting) = await ConnectAndGreetAsync(process, socketPath, cancellationToken);
            TimeSpan startup = Stopwatch.GetElapsedTime(process.StartTimestamp);
            return new RunningDaemon(process, client, greeting, startup);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    private List<string> Arguments(string socketPath)
    {
        // QEMU option syntax: a ',' inside a value is written ",,".
        var args = new List<string>
        {
            "--chardev", $"socket,id=m0,path={socketPath.Replace(",", ",,", StringComparison.Ordinal)},server=on,wait=off",
            "--monitor", "chardev=m0",
        };
        foreach (string node in NodeNames)
        {
            args.Add("--blockdev");
            args.Add($"null-co,node-name={node}");
        }
        return args;
    }

    private async Task<(QmpClient, QmpGreeting)> ConnectAndGreetAsync(
        DaemonProcess process, string socketPath, CancellationToken cancellationToken)
    {
        // Poll with a short back-off: 1 ms steps while a quick start is plausible, then doubling up to
        // 25 ms so a slow or stuck daemon is not hammered. The whole wait is bounded by _timeout.
        TimeSpan delay = TimeSpan.FromMilliseconds(1);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            TimeSpan elapsed = Stopwatch.GetElapsedTime(process.StartTimestamp);
            if (process.HasExited)
                throw new BenchException($"{process.Spec.Label} ended before its QMP socket accepted a connection: {await process.DescribeExitAsync()}");
            if (elapsed > _timeout)
                throw new BenchException(
                    $"{process.Spec.Label} (pid {process.Id}) did not open its QMP socket {socketPath} within " +
                    $"{_timeout.TotalSeconds:0.###} s: {await process.DescribeExitAsync()}");

            QmpClient? client = await TryConnectAsync(socketPath, cancellationToken);
            if (client is not null)
                return (client, await ReadGreetingAsync(process, client));

            await Task.Delay(delay, cancellationToken);
            if (elapsed > TimeSpan.FromMilliseconds(200))
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 25));
        }
    }

    private async Task<QmpClient?> TryConnectAsync(string socketPath, CancellationToken cancellationToken)
    {
        try
        {
            return await QmpClient.ConnectAsync(socketPath, _timeout, cancellationToken);
        }
        catch (SocketException)
        {
            return null; // not there yet (ENOENT) or not listening yet (ECONNREFUSED)
        }
    }

    private static async Task<QmpGreeting> ReadGreetingAsync(DaemonProcess process, QmpClient client)
    {
        try
        {
            return await client.ReadGreetingAsync();
        }
        catch (Exception e) when (e is TimeoutException or IOException or InvalidDataException or SocketException)
        {
            await client.DisposeAsync();
            string detail = await process.DescribeExitAsync();
            throw new BenchException($"{process.Spec.Label} accepted the QMP connection but sent no valid greeting ({e.Message}); {detail}", e);
        }
    }
}
