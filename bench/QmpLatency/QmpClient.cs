using System.Buffers.Text;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace BlockDaemon.Bench.QmpLatency;

/// <summary>What the server announced in its greeting.</summary>
internal sealed record QmpGreeting(string Version, string Package);

/// <summary>The server answered a command with an "error" reply.</summary>
internal sealed class QmpErrorException : Exception
{
    public QmpErrorException(string message) : base(message) { }
}

/// <summary>
/// A minimal QMP client over a Unix socket for benchmarking: one command in flight, each tagged with a
/// numeric "id" that the reply must echo, events skipped. Every wait is bounded by a per-call timeout.
/// </summary>
internal sealed class QmpClient : IAsyncDisposable
{
    private const int MaxLineBytes = 4 * 1024 * 1024;
    private static readonly byte[] IdSeparator = ",\"id\":"u8.ToArray();
    private static readonly byte[] CommandEnd = "}\n"u8.ToArray();

    private readonly Socket _socket;
    private readonly BoundedLineReader _reader;
    private readonly CancellationTokenSource _timeout;
    private readonly TimeSpan _callTimeout;
    private readonly CancellationToken _outer;
    private readonly byte[] _sendBuffer = new byte[512];
    private string? _cachedCommand;
    private byte[] _cachedPrefix = [];
    private long _nextId = 1;

    private QmpClient(Socket socket, TimeSpan callTimeout, CancellationToken cancellationToken)
    {
        _socket = socket;
        _reader = new BoundedLineReader(socket, MaxLineBytes);
        _callTimeout = callTimeout;
        _outer = cancellationToken;
        _timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    }

    /// <summary>Events received (and ignored) while waiting for replies.</summary>
    public int EventsSkipped { get; private set; }

    /// <summary>One connection attempt; a missing or not yet listening socket surfaces as <see cref="SocketException"/>.</summary>
    public static async Task<QmpClient> ConnectAsync(string socketPath, TimeSpan callTimeout, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
            return new QmpClient(socket, callTimeout, cancellationToken);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Waits for the greeting the server sends unprompted after accepting.</summary>
    public async Task<QmpGreeting> ReadGreetingAsync()
    {
        ReadOnlyMemory<byte> line = await ReadLineWithTimeoutAsync("QMP greeting");
        try
        {
            using JsonDocument doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("QMP", out JsonElement qmp))
                throw new InvalidDataException($"expected a QMP greeting, got: {Excerpt(line.Span)}");

            string version = "?", package = "";
            if (qmp.TryGetProperty("version", out JsonElement v))
            {
                if (v.TryGetProperty("qemu", out JsonElement q))
                    version = $"{Number(q, "major")}.{Number(q, "minor")}.{Number(q, "micro")}";
                if (v.TryGetProperty("package", out JsonElement p) && p.ValueKind == JsonValueKind.String)
                    package = p.GetString() ?? "";
            }
            return new QmpGreeting(version, package);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"greeting is not JSON ({e.Message}): {Excerpt(line.Span)}", e);
        }

        static string Number(JsonElement obj, string name) =>
            obj.TryGetProperty(name, out JsonElement n) ? n.GetRawText() : "?";
    }

    /// <summary>
    /// Sends <paramref name="command"/> (no arguments) and returns the raw "return" reply line, valid until
    /// the next call. Buffers are reused and replies are not materialised, so the client adds as little as possible to the
    /// measured round trip.
    /// </summary>
    /// <remarks>
    /// A timeout surfaces as <see cref="TimeoutException"/>; cancellation of the token given to
    /// <see cref="ConnectAsync"/> (Ctrl+C) stays an <see cref="OperationCanceledException"/>.
    /// </remarks>
    public async ValueTask<ReadOnlyMemory<byte>> ExecuteAsync(string command)
    {
        long id = _nextId++;
        int length = FormatCommand(command, id);
        _timeout.CancelAfter(_callTimeout);
        try
        {
            for (int sent = 0; sent < length;)
                sent += await _socket.SendAsync(_sendBuffer.AsMemory(sent, length - sent), SocketFlags.None, _timeout.Token);

            while (true)
            {
                ReadOnlyMemory<byte>? maybeLine = await _reader.ReadLineAsync(_timeout.Token);
                if (maybeLine is not { } line)
                    throw new EndOfStreamException($"connection closed while waiting for the reply to '{command}'");

                switch (Classify(line.Span, out long? replyId))
                {
                    case MessageKind.Event:
                        EventsSkipped++;
                        continue;
                    case MessageKind.Return when replyId == id:
                        return line;
                    case MessageKind.Error when replyId == id:
                        throw new QmpErrorException($"'{command}' failed: {DescribeError(line.Span)}");
                    case MessageKind.Return or MessageKind.Error:
                        throw new InvalidDataException(
                            $"reply to '{command}' carries id {replyId?.ToString() ?? "(none)"}, expected {id}: {Excerpt(line.Span)}");
                    default:
                        throw new InvalidDataException($"unexpected message while waiting for '{command}': {Excerpt(line.Span)}");
                }
            }
        }
        catch (OperationCanceledException e) when (!_outer.IsCancellationRequested)
        {
            throw new TimeoutException($"no reply to '{command}' within {_callTimeout.TotalSeconds:0.###} s", e);
        }
        finally
        {
            _timeout.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        _timeout.Dispose();
        return ValueTask.CompletedTask;
    }

    private async ValueTask<ReadOnlyMemory<byte>> ReadLineWithTimeoutAsync(string what)
    {
        _timeout.CancelAfter(_callTimeout);
        try
        {
            ReadOnlyMemory<byte>? line = await _reader.ReadLineAsync(_timeout.Token);
            return line ?? throw new EndOfStreamException($"connection closed before the {what}");
        }
        catch (OperationCanceledException e) when (!_outer.IsCancellationRequested)
        {
            throw new TimeoutException($"no {what} within {_callTimeout.TotalSeconds:0.###} s", e);
        }
        finally
        {
            _timeout.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Writes <c>{"execute":"COMMAND","id":ID}\n</c> into the send buffer.</summary>
    private int FormatCommand(string command, long id)
    {
        if (!ReferenceEquals(command, _cachedCommand))
        {
            _cachedPrefix = Encoding.UTF8.GetBytes($$"""{"execute":{{JsonSerializer.Serialize(command)}}""");
            _cachedCommand = command;
        }
        Span<byte> buffer = _sendBuffer;
        _cachedPrefix.CopyTo(buffer);
        int pos = _cachedPrefix.Length;
        IdSeparator.CopyTo(buffer[pos..]);
        pos += IdSeparator.Length;
        if (!Utf8Formatter.TryFormat(id, buffer[pos..], out int written))
            throw new InvalidOperationException("send buffer too small");
        pos += written;
        CommandEnd.CopyTo(buffer[pos..]);
        return pos + CommandEnd.Length;
    }

    private enum MessageKind { Other, Return, Error, Event }

    /// <summary>Looks only at the top-level keys of a message; nested values are skipped, not materialised.</summary>
    private static MessageKind Classify(ReadOnlySpan<byte> line, out long? id)
    {
        id = null;
        var kind = MessageKind.Other;
        try
        {
            var reader = new Utf8JsonReader(line, isFinalBlock: true, state: default);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                return MessageKind.Other;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("return"u8))
                    kind = MessageKind.Return;
                else if (reader.ValueTextEquals("error"u8))
                    kind = MessageKind.Error;
                else if (reader.ValueTextEquals("event"u8))
                    kind = MessageKind.Event;
                else if (reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long value))
                        id = value;
                    continue;
                }
                reader.Read();
                reader.Skip();
            }
            return kind;
        }
        catch (JsonException)
        {
            return MessageKind.Other;
        }
    }

    private static string DescribeError(ReadOnlySpan<byte> line)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            using JsonDocument doc = JsonDocument.ParseValue(ref reader);
            JsonElement error = doc.RootElement.GetProperty("error");
            string cls = error.TryGetProperty("class", out JsonElement c) ? c.ToString() : "?";
            string desc = error.TryGetProperty("desc", out JsonElement d) ? d.ToString() : "?";
            return $"{cls}: {desc}";
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return Excerpt(line);
        }
    }

    internal static string Excerpt(ReadOnlySpan<byte> line)
    {
        const int Max = 300;
        string text = Encoding.UTF8.GetString(line[..Math.Min(line.Length, Max)]);
        return line.Length > Max ? text + "..." : text;
    }
}
