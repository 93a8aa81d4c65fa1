using System.Text;
using System.Text.Json.Nodes;
using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Drivers.Null;
using BlockDaemon.Core.Drivers.Raw;
using BlockDaemon.Core.Graph;
using BlockDaemon.Qmp.Commands;
using BlockDaemon.Qmp.Schema;
using BlockDaemon.Qmp.Server;
using Microsoft.Extensions.Logging.Abstractions;
using Nerdbank.Streams;

namespace BlockDaemon.Qmp.Tests;

/// <summary>A QMP server over a real graph and control loop; clients talk to it over in-memory duplex streams.</summary>
internal sealed class QmpHarness : IAsyncDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly List<Task> _sessions = [];
    private readonly Task _loopTask;

    public QmpHarness()
    {
        Graph.RegisterDriver(new FileDriverFactory());
        Graph.RegisterDriver(new NullDriverFactory());
        Graph.RegisterDriver(new RawDriverFactory());
        Graph.Events = new BlockEventForwarder(Events);
        var schema = QmpSchema.LoadEmbedded();
        var commands = CommandRegistry.CreateDefault();
        commands.VerifyAgainst(schema);
        Server = new QmpServer(Graph, schema, commands, Loop, Events, Daemon, NullLogger<QmpServer>.Instance);
        _loopTask = Loop.RunAsync(_cts.Token);
    }

    public BlockGraph Graph { get; } = new();
    public EventBus Events { get; } = new();
    public ControlLoop Loop { get; } = new();
    public FakeDaemon Daemon { get; } = new();
    public QmpServer Server { get; }

    public QmpClient Connect(bool pretty = false)
    {
        var (client, server) = FullDuplexStream.CreatePair();
        _sessions.Add(Server.ServeAsync(server, pretty, _cts.Token));
        return new QmpClient(client);
    }

    /// <summary>Connects, checks the greeting exists and negotiates.</summary>
    public async Task<QmpClient> ConnectNegotiatedAsync()
    {
        var client = Connect();
        Assert.True((await client.ReadAsync())!["QMP"] is JsonObject);
        Assert.Equal("""{"return": {}}""", await client.CommandLineAsync("""{"execute": "qmp_capabilities"}"""));
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync();
        Loop.Complete();
        await Task.WhenAll([.. _sessions, _loopTask]).WaitAsync(TimeSpan.FromSeconds(10));
        await Server.DisposeAsync();
        await Graph.CloseAllAsync();
        _cts.Dispose();
    }
}

internal sealed class FakeDaemon : IDaemonControl
{
    private int _shutdownRequests;

    public int ShutdownRequests => Volatile.Read(ref _shutdownRequests);

    // Shutdown runs after the reply is written (as in QEMU), so a client may read the reply
    // before the request arrives here: tests await this instead of checking the count at once.
    public TaskCompletionSource ShutdownRequested { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public (int Major, int Minor, int Micro, string Package) Version => (7, 2, 22, "x");

    public void RequestShutdown()
    {
        Interlocked.Increment(ref _shutdownRequests);
        ShutdownRequested.TrySetResult();
    }
}

/// <summary>The client end: writes raw text, reads "\r\n"-terminated lines with a timeout.</summary>
internal sealed class QmpClient(Stream stream) : IDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);
    private readonly MemoryStream _pending = new();
    private readonly byte[] _buffer = new byte[65536];

    public Stream Stream => stream;

    public async Task SendAsync(string text)
    {
        await stream.WriteAsync(Encoding.UTF8.GetBytes(text)).AsTask().WaitAsync(Timeout);
        await stream.FlushAsync().WaitAsync(Timeout);
    }

    /// <summary>The next line without its "\r\n" (which it asserts), or null at end of stream.</summary>
    public async Task<string?> ReadLineAsync()
    {
        while (true)
        {
            var data = _pending.GetBuffer().AsSpan(0, (int)_pending.Length);
            int newline = data.IndexOf("\r\n"u8);
            if (newline >= 0)
            {
                string line = Encoding.ASCII.GetString(data[..newline]);
                Assert.DoesNotContain('\n', line);
                var rest = data[(newline + 2)..].ToArray();
                _pending.SetLength(0);
                _pending.Write(rest);
                return line;
            }
            int n = await stream.ReadAsync(_buffer).AsTask().WaitAsync(Timeout);
            if (n == 0)
            {
                Assert.Equal(0, _pending.Length);
                return null;
            }
            _pending.Write(_buffer, 0, n);
        }
    }

    public async Task<JsonNode?> ReadAsync()
    {
        string? line = await ReadLineAsync();
        Assert.NotNull(line);
        return JsonNode.Parse(line);
    }

    public async Task<string> CommandLineAsync(string request)
    {
        await SendAsync(request + "\n");
        string? line = await ReadLineAsync();
        Assert.NotNull(line);
        return line;
    }

    public async Task<JsonObject> CommandAsync(string request)
    {
        return JsonNode.Parse(await CommandLineAsync(request))!.AsObject();
    }

    public void Dispose() => stream.Dispose();
}
