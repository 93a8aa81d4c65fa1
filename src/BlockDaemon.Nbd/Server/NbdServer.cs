using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BlockDaemon.Nbd.Server;

/// <summary>
/// Listens on one socket (Unix or TCP), accepts NBD clients and serves <see cref="Exports"/> to
/// them. Tracks every connection so that <see cref="StopAsync"/> completes promptly: it closes the
/// listener, drops every client (including ones stuck in the handshake or not reading replies)
/// and waits for their in-flight requests to finish.
/// </summary>
public sealed class NbdServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly NbdServerOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    // Live connections and the task running each; a connection removes itself when it ends.
    private readonly ConcurrentDictionary<NbdConnection, Task> _connections = new();
    private readonly Task _acceptLoop;
    private readonly string? _unixPath;
    // Released whenever a connection ends, so an accept loop at MaxConnections can go on.
    private readonly SemaphoreSlim _connectionEnded = new(0);

    private NbdServer(Socket listener, string? unixPath, NbdServerOptions? options, ILogger? logger)
    {
        _listener = listener;
        _unixPath = unixPath;
        _options = options ?? new NbdServerOptions();
        _logger = logger ?? NullLogger.Instance;
        _acceptLoop = AcceptLoopAsync();
    }

    public NbdExportTable Exports { get; } = new();

    public EndPoint LocalEndPoint => _listener.LocalEndPoint!;

    public int ConnectionCount => _connections.Count;

    /// <summary>Clients that opened <paramref name="export"/> and are still connected.</summary>
    public int ClientsOf(NbdExport export) => _connections.Keys.Count(c => c.Export == export);

    /// <summary>
    /// Clients of <paramref name="export"/> that stay connected: clients that have already hung up
    /// or sent more than the read loop has taken (typically a DISC followed by exit) are given up
    /// to <paramref name="settleLimit"/> to finish leaving, so that a "still in use" answer right
    /// after a client exits reflects a client that is really there, not one this side has not
    /// noticed leaving yet.
    /// </summary>
    public async Task<int> ClientsStayingAsync(NbdExport export, TimeSpan settleLimit)
    {
        var leaving = _connections.Where(c => c.Key.Export == export && c.Key.HasUnreadInputOrHungUp).Select(c => c.Value).ToList();
        if (leaving.Count > 0)
        {
            try
            {
                await Task.WhenAll(leaving).WaitAsync(settleLimit).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // A client still sending requests; it counts as staying.
            }
        }
        return ClientsOf(export);
    }

    /// <summary>
    /// Drops every client of <paramref name="export"/> (which must already be out of
    /// <see cref="Exports"/>, so no new client can open it) and completes once they are gone.
    /// </summary>
    public Task DropClientsAsync(NbdExport export)
    {
        var ending = new List<Task>();
        foreach (var (connection, done) in _connections)
        {
            if (connection.Export == export)
            {
                connection.Abort();
                ending.Add(done);
            }
        }
        return Task.WhenAll(ending);
    }

    /// <summary>Starts a server on a Unix socket at <paramref name="path"/> (which must not exist yet).</summary>
    public static NbdServer ListenUnix(string path, NbdServerOptions? options = null, ILogger? logger = null)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            socket.Listen(16);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new NbdServer(socket, path, options, logger);
    }

    /// <summary>Starts a server on TCP <paramref name="endPoint"/> (port 0 picks a free port).</summary>
    public static NbdServer ListenTcp(IPEndPoint endPoint, NbdServerOptions? options = null, ILogger? logger = null)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endPoint);
            socket.Listen(16);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new NbdServer(socket, null, options, logger);
    }

    /// <summary>Stops accepting, drops every client and waits until their requests have finished.</summary>
    public async ValueTask StopAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            _listener.Dispose();
        }
        await _acceptLoop.ConfigureAwait(false);
        foreach (var connection in _connections.Keys)
        {
            connection.Abort();
        }
        await Task.WhenAll(_connections.Values).ConfigureAwait(false);
        if (_unixPath is not null)
        {
            File.Delete(_unixPath);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
        _connectionEnded.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        await Task.Yield();
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                // At the limit, leave new clients in the listen backlog until one goes away.
                while (_options.MaxConnections > 0 && _connections.Count >= _options.MaxConnections)
                {
                    await _connectionEnded.WaitAsync(_stop.Token).ConfigureAwait(false);
                }
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException && _stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                // A client that went away between connect and accept; keep listening.
                _logger.LogDebug("NBD accept failed: {Reason}", e.Message);
                continue;
            }
            if (client.AddressFamily != AddressFamily.Unix)
            {
                client.NoDelay = true;
            }
            var connection = new NbdConnection(new NetworkStream(client, ownsSocket: true), Exports, _options, _logger, _stop.Token, client);
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _connections[connection] = gate.Task;
            _ = RunConnectionAsync(connection, gate);
            // A stop that raced with this accept must still see and drop the new client.
            if (_stop.IsCancellationRequested)
            {
                connection.Abort();
            }
        }
    }

    private async Task RunConnectionAsync(NbdConnection connection, TaskCompletionSource done)
    {
        try
        {
            await connection.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(connection, out _);
            _connectionEnded.Release();
            done.SetResult();
        }
    }
}
