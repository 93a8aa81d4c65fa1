using BlockDaemon.Core.Jobs;
using System.Net.Sockets;
using BlockDaemon.Core.Graph;
using BlockDaemon.Qmp.Commands;
using BlockDaemon.Qmp.Exports;
using BlockDaemon.Qmp.Schema;
using Microsoft.Extensions.Logging;

namespace BlockDaemon.Qmp.Server;

/// <summary>
/// Listens on the monitors' Unix sockets and runs a <see cref="QmpSession"/> per client. Unlike a
/// qsd chardev (one client at a time per socket), any number of clients may be connected to a
/// socket at once; each gets its own greeting and negotiation.
/// </summary>
public sealed class QmpServer : IAsyncDisposable
{
    private readonly List<Socket> _listeners = [];
    private readonly List<string> _socketPaths = [];
    private readonly List<(Socket Socket, bool Pretty)> _pending = [];
    private readonly List<Task> _tasks = [];
    // Guards _sessions; sessions come and go on accept and disconnect threads.
    private readonly Lock _lock = new();
    private readonly Dictionary<QmpSession, Task> _sessions = [];
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);
    private readonly CancellationTokenSource _stopping = new();
    private int _disposed;

    public QmpServer(BlockGraph graph, QmpSchema schema, CommandRegistry commands, ControlLoop loop, EventBus events, IDaemonControl daemon, ILogger<QmpServer> logger)
    {
        Graph = graph;
        Schema = schema;
        Commands = commands;
        Loop = loop;
        Events = events;
        Daemon = daemon;
        Logger = logger;
        Jobs = new JobManager(loop) { Events = new JobEventForwarder(events) };
        Exports = new BlockExportRegistry(graph, events, loop, logger);
    }

    /// <summary>The NBD server and the exports; the daemon stops them before it closes the graph.</summary>
    public BlockExportRegistry Exports { get; }

    /// <summary>The daemon's jobs; they report their state changes as JOB_STATUS_CHANGE.</summary>
    public JobManager Jobs { get; }

    public BlockGraph Graph { get; }
    public QmpSchema Schema { get; }
    public CommandRegistry Commands { get; }
    public ControlLoop Loop { get; }
    public EventBus Events { get; }
    public IDaemonControl Daemon { get; }
    public ILogger Logger { get; }

    public CommandContext CreateContext(QmpSession? session) => new()
    {
        Graph = Graph,
        Schema = Schema,
        Events = Events,
        Daemon = Daemon,
        Session = session,
        Jobs = Jobs,
        Exports = Exports,
    };

    /// <summary>Binds a monitor socket (replacing a stale socket file, as QEMU does); <see cref="Start"/> accepts.</summary>
    public void Listen(string path, bool pretty, UnixFileMode? mode = null)
    {
        if (new FileInfo(path).Exists)
        {
            File.Delete(path);
        }
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            if (mode is { } m)
            {
                // Bound under a private name and renamed once its mode is set, so the socket is
                // never reachable with the umask's wider mode.
                string hidden = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "." + Path.GetRandomFileName());
                socket.Bind(new UnixDomainSocketEndPoint(hidden));
                File.SetUnixFileMode(hidden, m);
                File.Move(hidden, path, overwrite: true);
            }
            else
            {
                socket.Bind(new UnixDomainSocketEndPoint(path));
            }
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException($"Failed to bind socket to {path}: {e.Message}", e);
        }
        _listeners.Add(socket);
        _socketPaths.Add(path);
        _pending.Add((socket, pretty));
        Logger.LogInformation("QMP monitor bound to {Path}", path);
    }

    /// <summary>
    /// Starts accepting on every bound socket. Called once start-up is complete, so a client
    /// that connects early is refused (and retries) rather than talking to a half-built daemon,
    /// as with qsd, whose main loop starts only after all options ran.
    /// </summary>
    public void Start()
    {
        // Last monitor first: a client that saw the first socket come up finds the others ready.
        for (int i = _pending.Count - 1; i >= 0; i--)
        {
            _pending[i].Socket.Listen(16);
        }
        foreach (var (socket, pretty) in _pending)
        {
            _tasks.Add(AcceptLoopAsync(socket, pretty, _stopping.Token));
        }
        _pending.Clear();
    }

    /// <summary>Serves an already connected stream (tests use in-memory pipes).</summary>
    public Task ServeAsync(Stream stream, bool pretty, CancellationToken ct)
    {
        var session = new QmpSession(stream, this, pretty);
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _sessions.Add(session, running.Task);
        }
        return RunSessionAsync(session, running, ct);
    }

    private async Task AcceptLoopAsync(Socket listener, bool pretty, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = ServeAsync(new NetworkStream(client, ownsSocket: true), pretty, ct);
        }
    }

    private async Task RunSessionAsync(QmpSession session, TaskCompletionSource running, CancellationToken ct)
    {
        try
        {
            await session.RunAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Logger.LogError(e, "QMP session failed");
        }
        finally
        {
            lock (_lock)
            {
                _sessions.Remove(session);
            }
            session.Dispose();
            running.SetResult();
        }
    }

    /// <summary>Stops accepting, lets every session write what it has queued, and closes them.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stopping.Cancel();
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }
        KeyValuePair<QmpSession, Task>[] sessions;
        lock (_lock)
        {
            sessions = [.. _sessions];
        }
        foreach (var (session, _) in sessions)
        {
            session.Close();
        }
        // Sessions write what they have queued; one whose client does not read is cut off.
        var drained = Task.WhenAll(sessions.Select(s => s.Value));
        if (await Task.WhenAny(drained, Task.Delay(DrainTimeout)).ConfigureAwait(false) != drained)
        {
            foreach (var (session, _) in sessions)
            {
                session.Abort();
            }
        }
        await Task.WhenAll(_tasks.Append(drained)).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        foreach (var path in _socketPaths)
        {
            File.Delete(path);
        }
        _stopping.Dispose();
    }
}
