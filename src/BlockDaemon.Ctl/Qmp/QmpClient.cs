using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using BlockDaemon.QemuJson;

namespace BlockDaemon.Ctl.Qmp;

/// <summary>
/// A QMP client on a Unix socket: reads the greeting, leaves capability negotiation, then sends
/// commands with ids of its own and matches replies to them, while events go to a queue.
/// One reader task owns the socket's input; writes are serialized by a lock. The input is split
/// into messages by QEMU's own JSON streamer, so a pretty-printing monitor (one message over many
/// lines) is read as well as a plain one.
/// </summary>
public sealed class QmpClient : IAsyncDisposable
{
    /// <summary>Events kept for a reader that is not reading; older ones are dropped beyond it.</summary>
    public const int EventQueueCapacity = 10_000;

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    // Commands awaiting their reply, by the id we gave them. Replies come in order, so one without
    // an id (the daemon could not parse what it got) belongs to the oldest.
    private readonly ConcurrentDictionary<long, PendingCommand> _pending = new();
    private readonly Channel<QmpEvent> _events;
    private readonly TaskCompletionSource<JsonObject> _greeting = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private Task _reader = Task.CompletedTask;
    private long _nextId;
    private long _droppedEvents;
    private volatile Exception? _closed;

    private QmpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _events = Channel.CreateBounded<QmpEvent>(
            new BoundedChannelOptions(EventQueueCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = false, SingleWriter = true },
            _ => Interlocked.Increment(ref _droppedEvents));
    }

    /// <summary>The greeting ({"QMP": {"version": ..., "capabilities": [...]}}).</summary>
    public JsonObject Greeting { get; private set; } = [];

    /// <summary>Every event received since the connection was made, oldest first.</summary>
    public ChannelReader<QmpEvent> Events => _events.Reader;

    /// <summary>Events dropped because nobody read them and the queue was full.</summary>
    public long DroppedEvents => Interlocked.Read(ref _droppedEvents);

    /// <summary>Completes when the daemon hangs up or the client is disposed.</summary>
    public Task Closed => _reader;

    /// <summary>How long a monitor may take to greet; qsd serves one client per monitor, and a second one waits unanswered.</summary>
    public static readonly TimeSpan DefaultGreetingTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Connects, reads the greeting and runs qmp_capabilities.</summary>
    /// <exception cref="QmpConnectionException">No daemon listens there, or it does not speak QMP.</exception>
    public static Task<QmpClient> ConnectAsync(string socketPath, CancellationToken ct) =>
        ConnectAsync(socketPath, DefaultGreetingTimeout, ct);

    /// <inheritdoc cref="ConnectAsync(string, CancellationToken)"/>
    public static async Task<QmpClient> ConnectAsync(string socketPath, TimeSpan greetingTimeout, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new QmpConnectionException($"Cannot connect to the QMP socket '{socketPath}': {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var client = new QmpClient(socket);
        client._reader = Task.Run(client.ReadLoopAsync, CancellationToken.None);
        try
        {
            try
            {
                client.Greeting = await client._greeting.Task.WaitAsync(greetingTimeout, ct).ConfigureAwait(false);
            }
            catch (TimeoutException e)
            {
                throw new QmpConnectionException(
                    $"No QMP greeting on '{socketPath}' within {greetingTimeout.TotalSeconds:0} s; is another client using this monitor? (qemu-storage-daemon serves one client per monitor)", e);
            }
            await client.ExecuteAsync("qmp_capabilities", null, ct).ConfigureAwait(false);
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs a command and returns its "return" value.</summary>
    /// <exception cref="QmpCommandException">The daemon answered with an error.</exception>
    /// <exception cref="QmpConnectionException">The connection ended before the reply.</exception>
    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments, CancellationToken ct)
    {
        var reply = await SendAsync(command, arguments, ct).ConfigureAwait(false);
        if (reply["error"] is JsonObject error)
        {
            throw new QmpCommandException(command, StringOf(error["class"]) ?? "GenericError", StringOf(error["desc"]) ?? "", reply);
        }
        return reply["return"];
    }

    /// <summary>Runs a command and returns the whole reply message, error replies included.</summary>
    public async Task<JsonObject> SendAsync(string command, JsonObject? arguments, CancellationToken ct)
    {
        long id = Interlocked.Increment(ref _nextId);
        var message = new JsonObject { ["execute"] = command };
        if (arguments is not null)
        {
            message["arguments"] = arguments.DeepClone();
        }
        message["id"] = id;
        var pending = new PendingCommand(id);
        _pending[id] = pending;
        try
        {
            ThrowIfClosed();
            byte[] bytes = Encoding.UTF8.GetBytes(message.ToJsonString() + "\n");
            await _writeLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await _stream.WriteAsync(bytes, ct).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new QmpConnectionException("The QMP connection was closed: " + e.Message, e);
            }
            finally
            {
                _writeLock.Release();
            }
            // The reader may have ended between our check and the write.
            if (_closed is not null)
            {
                pending.Reply.TrySetException(ClosedError());
            }
            return await pending.Reply.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _closed ??= new QmpConnectionException("The QMP client was closed");
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already disconnected.
        }
        catch (ObjectDisposedException)
        {
        }
        await _stream.DisposeAsync().ConfigureAwait(false);
        try
        {
            await _reader.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or SocketException)
        {
            // The reader ends with whatever closing the socket under it raised.
        }
        _stop.Dispose();
        _writeLock.Dispose();
    }

    private async Task ReadLoopAsync()
    {
        var streamer = new QemuJsonStreamer(OnMessage);
        byte[] buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int n = await _stream.ReadAsync(buffer, _stop.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                streamer.Feed(buffer.AsSpan(0, n));
            }
            _closed ??= new QmpConnectionException("The daemon closed the QMP connection");
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            _closed ??= new QmpConnectionException("The QMP connection was closed: " + e.Message, e);
        }
        catch (Exception e)
        {
            _closed ??= new QmpConnectionException("The QMP connection failed: " + e.Message, e);
        }
        finally
        {
            var error = ClosedError();
            _greeting.TrySetException(error);
            foreach (var pending in _pending.Values)
            {
                pending.Reply.TrySetException(error);
            }
            _events.Writer.TryComplete();
        }
    }

    private void OnMessage(JsonNode? value, string? error)
    {
        if (value is not JsonObject message)
        {
            // The daemon sent something that is not a QMP message: nothing can be matched any more.
            throw new QmpConnectionException("The daemon sent malformed QMP: " + (error ?? "not a JSON object"));
        }
        if (message.ContainsKey("QMP"))
        {
            _greeting.TrySetResult(message);
        }
        else if (message.ContainsKey("event"))
        {
            _events.Writer.TryWrite(QmpEvent.FromMessage(message));
        }
        else if (message.ContainsKey("return") || message.ContainsKey("error"))
        {
            PendingCommand? target = null;
            if (message["id"] is JsonValue idValue && idValue.TryGetValue(out long id))
            {
                _pending.TryGetValue(id, out target);
            }
            else
            {
                target = _pending.Values.OrderBy(p => p.Id).FirstOrDefault(p => !p.Reply.Task.IsCompleted);
            }
            target?.Reply.TrySetResult(message);
        }
    }

    private void ThrowIfClosed()
    {
        if (_closed is not null)
        {
            throw ClosedError();
        }
    }

    private QmpConnectionException ClosedError() =>
        _closed as QmpConnectionException ?? new QmpConnectionException(_closed?.Message ?? "The QMP connection was closed", _closed!);

    private static string? StringOf(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : node is null ? null : Output.JsonText.Compact(node);

    private sealed class PendingCommand(long id)
    {
        public long Id { get; } = id;

        public TaskCompletionSource<JsonObject> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
