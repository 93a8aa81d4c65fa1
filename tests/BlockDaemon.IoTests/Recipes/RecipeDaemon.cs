using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using BlockDaemon.TestKit;

namespace BlockDaemon.IoTests.Recipes;

/// <summary>
/// A daemon (blockd, or qsd to prove a recipe test right) run for one recipe: a QMP monitor on a
/// Unix socket, one client that keeps every event so a step can wait for one, and an NBD server
/// on another Unix socket for the guest. Disposing kills the daemon if it still runs.
/// </summary>
internal sealed class RecipeDaemon : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;
    private readonly List<JsonObject> _events = [];
    private readonly SemaphoreSlim _eventArrived = new(0);
    private readonly System.Threading.Channels.Channel<JsonObject> _replies = System.Threading.Channels.Channel.CreateUnbounded<JsonObject>();
    private readonly Task _readLoop;
    private readonly StringBuilder _stderr;
    private int _eventCursor;

    private RecipeDaemon(Process process, Socket socket, string dir, StringBuilder stderr)
    {
        _process = process;
        _stderr = stderr;
        _socket = socket;
        Dir = dir;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, Encoding.UTF8);
        _readLoop = Task.Run(ReadLoopAsync);
    }

    public string Dir { get; }

    public string NbdSocket => Path.Combine(Dir, "nbd.sock");

    /// <summary>nbd+unix URI of an export of this daemon.</summary>
    public string ExportUri(string name) => $"nbd+unix:///{name}?socket={NbdSocket}";

    /// <summary>The binary: blockd's Debug build, or qemu-storage-daemon (skips when not installed).</summary>
    public static string Binary(string daemon)
    {
        if (daemon == "blockd")
        {
            return DaemonLauncher.BuiltBlockdPath();
        }
        return ExternalTools.Find("qemu-storage-daemon") ?? SkipReturn("qemu-storage-daemon is not installed");
    }

    private static string SkipReturn(string why)
    {
        Assert.Skip(why);
        return "";
    }

    public static async Task<RecipeDaemon> StartAsync(string daemon, string dir, CancellationToken ct)
    {
        string qmp = Path.Combine(dir, "qmp.sock");
        var process = DaemonLauncher.Start(Binary(daemon),
            ["--chardev", $"socket,id=m,path={qmp},server=on,wait=off", "--monitor", "chardev=m",
             "--nbd-server", $"addr.type=unix,addr.path={Path.Combine(dir, "nbd.sock")}"]);
        var stderr = new StringBuilder();
        _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        _ = Task.Run(async () => stderr.Append(await process.StandardError.ReadToEndAsync(CancellationToken.None)), CancellationToken.None);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(qmp), ct);
                var daemonClient = new RecipeDaemon(process, socket, dir, stderr);
                await daemonClient.NextReplyAsync(ct); // the greeting
                await daemonClient.ExecuteAsync("qmp_capabilities", null, ct);
                return daemonClient;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                socket.Dispose();
                await Task.Delay(50, ct);
            }
        }
    }

    /// <summary>Runs a command; fails the test on an error reply.</summary>
    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments, CancellationToken ct)
    {
        var reply = await TryExecuteAsync(command, arguments, ct);
        Assert.True(reply.ContainsKey("return"), $"{command} {arguments?.ToJsonString()} failed: {reply.ToJsonString()}");
        return reply["return"];
    }

    /// <summary>Runs a command and returns the reply, error or not.</summary>
    public async Task<JsonObject> TryExecuteAsync(string command, JsonObject? arguments, CancellationToken ct)
    {
        var message = new JsonObject { ["execute"] = command };
        if (arguments is not null)
        {
            message["arguments"] = arguments;
        }
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(message.ToJsonString() + "\n"), ct);
        return await NextReplyAsync(ct);
    }

    /// <summary>The next event named <paramref name="name"/> (after those already waited for) that matches.</summary>
    public async Task<JsonObject> WaitEventAsync(string name, CancellationToken ct, Func<JsonObject, bool>? match = null)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(Timeout);
        while (true)
        {
            lock (_events)
            {
                for (int i = _eventCursor; i < _events.Count; i++)
                {
                    var e = _events[i];
                    if ((string?)e["event"] == name && (match is null || match(e["data"]?.AsObject() ?? [])))
                    {
                        _eventCursor = i + 1;
                        return e;
                    }
                }
            }
            try
            {
                await _eventArrived.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                Assert.Fail($"no {name} event within {Timeout.TotalSeconds} s; events so far: {string.Join("\n", EventNames())}\nstderr: {_stderr}");
            }
        }
    }

    /// <summary>Every event seen so far, by name.</summary>
    public List<string> EventNames()
    {
        lock (_events)
        {
            return _events.Select(e => e.ToJsonString()).ToList();
        }
    }

    /// <summary>Exports a node writable to the guest.</summary>
    public Task AddExportAsync(string id, string node, CancellationToken ct) =>
        ExecuteAsync("block-export-add", new JsonObject
        {
            ["type"] = "nbd", ["id"] = id, ["node-name"] = node, ["name"] = id, ["writable"] = true,
        }, ct);

    /// <summary>SIGKILL: no flush, no close; what a crash leaves.</summary>
    public async Task KillHardAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
        }
        await _process.WaitForExitAsync(CancellationToken.None);
    }

    /// <summary>quit, then wait for the daemon to exit so every image is closed and unlocked.</summary>
    public async Task QuitAsync(CancellationToken ct)
    {
        if (!_process.HasExited)
        {
            await TryExecuteAsync("quit", null, ct);
            await _process.WaitForExitAsync(ct).WaitAsync(Timeout, ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }
            await _process.WaitForExitAsync(CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
        _reader.Dispose();
        await _stream.DisposeAsync();
        await _readLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _process.Dispose();
        _eventArrived.Dispose();
    }

    private async Task<JsonObject> NextReplyAsync(CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(Timeout);
        try
        {
            return await _replies.Reader.ReadAsync(cts.Token);
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            Assert.Fail("the daemon hung up; stderr: " + _stderr);
            throw;
        }
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (await _reader.ReadLineAsync() is { } line)
            {
                var message = JsonNode.Parse(line)!.AsObject();
                if (message.ContainsKey("event"))
                {
                    lock (_events)
                    {
                        _events.Add(message);
                    }
                    _eventArrived.Release();
                }
                else
                {
                    await _replies.Writer.WriteAsync(message);
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The daemon went away (killed on purpose, or quit).
        }
        finally
        {
            _replies.Writer.TryComplete();
        }
    }
}
