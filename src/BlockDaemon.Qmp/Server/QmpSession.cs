using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using BlockDaemon.Core.Errors;
using BlockDaemon.QemuJson;
using BlockDaemon.Qmp.Commands;
using BlockDaemon.Qmp.Schema;
using BlockDaemon.Qmp.Wire;
using Microsoft.Extensions.Logging;

namespace BlockDaemon.Qmp.Server;

/// <summary>
/// One QMP client: greeting, capabilities negotiation, then commands one at a time with replies
/// in order and events interleaved. Replies and events share one outgoing queue, so an event
/// raised while a command runs reaches the client before that command's reply, as in qsd.
/// A slow reader only fills its own bounded queue; when full, the client is dropped rather than
/// letting it hold memory or stall the daemon.
/// </summary>
public sealed class QmpSession : IDisposable
{
    private const int ReadChunk = 4096;
    private const int MaxQueuedMessages = 4096;
    private readonly Stream _stream;
    private readonly QmpServer _server;
    private readonly bool _pretty;
    private readonly Channel<string> _outgoing = Channel.CreateBounded<string>(
        new BoundedChannelOptions(MaxQueuedMessages) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _closed = new();
    private bool _oobEnabled;

    internal QmpSession(Stream stream, QmpServer server, bool pretty)
    {
        _stream = stream;
        _server = server;
        _pretty = pretty;
    }

    public bool Negotiated { get; private set; }

    /// <summary>Serves the client until it disconnects or the server closes it.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _closed.Token);
        // Only a hard close stops the writer: when the daemon stops, what is queued (the reply
        // to quit, say) is still written.
        var writer = WriteLoopAsync(_closed.Token);
        try
        {
            Send(Greeting());
            await ReadLoopAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away or the daemon is stopping.
        }
        finally
        {
            _server.Events.Unregister(this);
            _outgoing.Writer.TryComplete();
            try
            {
                await writer.ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    public void Dispose() => _closed.Dispose();

    /// <summary>Ends the session: queued messages are still written, then the connection closes.</summary>
    public void Close() => _outgoing.Writer.TryComplete();

    /// <summary>Drops the connection at once, queued messages or not (a client that does not read).</summary>
    public void Abort()
    {
        try
        {
            _closed.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The session ended meanwhile.
        }
    }

    internal void SendEvent(JsonObject message)
    {
        if (Negotiated)
        {
            Send(message);
        }
    }

    private void Send(JsonNode message)
    {
        if (!_outgoing.Writer.TryWrite(QmpJsonWriter.Write(message, _pretty)) && !_outgoing.Reader.Completion.IsCompleted)
        {
            // The client does not read its messages: drop it rather than buffer without bound.
            _server.Logger.LogWarning("QMP client is not reading its messages; disconnecting it");
            Abort();
        }
    }

    private async Task WriteLoopAsync(CancellationToken ct)
    {
        await foreach (var text in _outgoing.Reader.ReadAllAsync(ct).ConfigureAwait(false))
        {
            await _stream.WriteAsync(Encoding.ASCII.GetBytes(text + "\r\n"), ct).ConfigureAwait(false);
        }
        // The reply to quit or the last message is out: hang up so the reader sees EOF.
        Abort();
    }

    private async Task ReadLoopAsync(CancellationToken ct)
    {
        var messages = new List<(JsonNode? Value, string? Error)>();
        var streamer = new QemuJsonStreamer((value, error) => messages.Add((value, error)));
        var buffer = new byte[ReadChunk];
        while (true)
        {
            int n = await _stream.ReadAsync(buffer, ct).ConfigureAwait(false);
            if (n == 0)
            {
                return;
            }
            streamer.Feed(buffer.AsSpan(0, n));
            foreach (var (value, error) in messages)
            {
                var context = _server.CreateContext(this);
                Send(await HandleAsync(value, error, context).ConfigureAwait(false));
                foreach (var action in context.AfterReply)
                {
                    action();
                }
            }
            messages.Clear();
            if (_outgoing.Reader.Completion.IsCompleted)
            {
                return;
            }
        }
    }

    private async Task<JsonObject> HandleAsync(JsonNode? request, string? parseError, CommandContext context)
    {
        if (parseError is not null)
        {
            return ErrorReply(QmpErrorClass.GenericError, parseError, null);
        }
        if (request is not JsonObject message)
        {
            return ErrorReply(QmpErrorClass.GenericError, "QMP input must be a JSON object", null);
        }
        var id = message["id"]?.DeepClone();
        bool hasId = message.ContainsKey("id");
        try
        {
            var (name, arguments) = CheckRequest(message);
            var result = await ExecuteAsync(name, arguments, context).ConfigureAwait(false);
            var reply = new JsonObject { ["return"] = result ?? new JsonObject() };
            if (hasId)
            {
                reply["id"] = id;
            }
            return reply;
        }
        catch (QmpException e)
        {
            string desc = e.Message;
            if (!Negotiated && e.ErrorClass == QmpErrorClass.CommandNotFound)
            {
                desc = "Expecting capabilities negotiation with 'qmp_capabilities'";
            }
            return ErrorReply(e.ErrorClass, desc, hasId ? new JsonObject { ["id"] = id } : null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A bug must cost one command, never the daemon or the other clients.
            return ErrorReply(QmpErrorClass.GenericError, $"Internal error: {e.GetType().Name}: {e.Message}",
                hasId ? new JsonObject { ["id"] = id } : null);
        }
    }

    // QEMU's qmp_dispatch_check_obj: members checked in its hash order, so the same member is named.
    private (string Name, JsonObject? Arguments) CheckRequest(JsonObject message)
    {
        var keys = message.Select(p => p.Key).ToArray();
        foreach (int i in QDictOrder.Order(keys))
        {
            string key = keys[i];
            var value = message[key];
            switch (key)
            {
                case "execute":
                case "exec-oob" when _oobEnabled:
                    if (value is not JsonValue v || v.GetValueKind() != JsonValueKind.String)
                    {
                        throw QmpException.Generic($"QMP input member '{key}' must be a string");
                    }
                    break;
                case "arguments":
                    if (value is not JsonObject)
                    {
                        throw QmpException.Generic("QMP input member 'arguments' must be an object");
                    }
                    break;
                case "id":
                    break;
                default:
                    throw QmpException.Generic($"QMP input member '{key}' is unexpected");
            }
        }
        bool hasExec = message.ContainsKey("execute");
        bool hasOob = message.ContainsKey("exec-oob");
        if (hasExec && hasOob)
        {
            throw QmpException.Generic("QMP input must contain 'execute' or 'exec-oob', not both");
        }
        if (!hasExec && !hasOob)
        {
            throw QmpException.Generic("QMP input lacks member 'execute'");
        }
        string name = message[hasExec ? "execute" : "exec-oob"]!.GetValue<string>();
        if (hasOob)
        {
            // No blockd command runs out of band (neither does any of qsd 7.2's).
            throw QmpException.Generic($"The command {name} does not support OOB");
        }
        return (name, message["arguments"] as JsonObject);
    }

    private async Task<JsonNode?> ExecuteAsync(string name, JsonObject? arguments, CommandContext context)
    {
        var definition = _server.Schema.FindCommand(name);
        var handler = _server.Commands.Find(name);
        if (definition is null || handler is null || (!Negotiated && name != "qmp_capabilities"))
        {
            throw new QmpException(QmpErrorClass.CommandNotFound, $"The command {name} has not been found");
        }
        var validated = new ArgumentValidator(_server.Schema, keyval: false).ValidateArguments(definition.ArgType, arguments);
        if (!Negotiated)
        {
            return Negotiate(validated);
        }
        return await _server.Loop.InvokeAsync(async () =>
        {
            try
            {
                return await handler(context, validated).ConfigureAwait(false);
            }
            catch (BlockException e)
            {
                throw QmpErrors.From(e);
            }
        }).ConfigureAwait(false);
    }

    private JsonNode? Negotiate(JsonObject arguments)
    {
        if (arguments["enable"] is JsonArray enable && enable.Any(c => c?.GetValue<string>() == "oob"))
        {
            _oobEnabled = true;
        }
        Negotiated = true;
        _server.Events.Register(this);
        return null;
    }

    private JsonObject Greeting()
    {
        var (major, minor, micro, package) = _server.Daemon.Version;
        return new JsonObject
        {
            ["QMP"] = new JsonObject
            {
                ["version"] = new JsonObject
                {
                    ["qemu"] = new JsonObject { ["major"] = major, ["minor"] = minor, ["micro"] = micro },
                    ["package"] = package,
                },
                ["capabilities"] = new JsonArray("oob"),
            },
        };
    }

    private static JsonObject ErrorReply(QmpErrorClass errorClass, string desc, JsonObject? extra)
    {
        var reply = new JsonObject
        {
            ["error"] = new JsonObject { ["class"] = errorClass.ToString(), ["desc"] = desc },
        };
        if (extra is not null)
        {
            foreach (var (key, value) in extra.ToArray())
            {
                extra.Remove(key);
                reply[key] = value;
            }
        }
        return reply;
    }
}
