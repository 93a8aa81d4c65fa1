using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// A minimal QMP client: connects (retrying while the daemon starts), negotiates, and sends
/// commands either one at a time or pipelined (sent without waiting, answered later).
/// </summary>
internal sealed class QmpSocketClient : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    private QmpSocketClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    public static async Task<QmpSocketClient> ConnectAsync(string path, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct);
                var client = new QmpSocketClient(socket);
                await client.ReadMessageAsync(ct); // greeting
                await client.ExecuteAsync("""{"execute": "qmp_capabilities"}""", ct);
                return client;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                socket.Dispose();
                await Task.Delay(50, ct);
            }
        }
    }

    /// <summary>Sends a command without waiting for its answer.</summary>
    public async Task SendAsync(string command, CancellationToken ct) =>
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\n"), ct);

    /// <summary>The next answer (events are skipped); fails on an error answer.</summary>
    public async Task<JsonObject> ReceiveAsync(CancellationToken ct)
    {
        while (true)
        {
            var message = await ReadMessageAsync(ct);
            if (message.ContainsKey("event"))
            {
                continue;
            }
            Assert.True(message.ContainsKey("return"), "QMP error: " + message.ToJsonString());
            return message;
        }
    }

    /// <summary>Sends a command and returns its answer, error or not (events are skipped).</summary>
    public async Task<JsonObject> TryExecuteAsync(string command, CancellationToken ct)
    {
        await SendAsync(command, ct);
        while (true)
        {
            var message = await ReadMessageAsync(ct);
            if (!message.ContainsKey("event"))
            {
                return message;
            }
        }
    }

    public async Task<JsonObject> ExecuteAsync(string command, CancellationToken ct)
    {
        await SendAsync(command, ct);
        return await ReceiveAsync(ct);
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        await _stream.DisposeAsync();
        _socket.Dispose();
    }

    private async Task<JsonObject> ReadMessageAsync(CancellationToken ct)
    {
        string? line = await _reader.ReadLineAsync(ct).AsTask().WaitAsync(Timeout, ct);
        Assert.NotNull(line);
        return JsonNode.Parse(line)!.AsObject();
    }
}
