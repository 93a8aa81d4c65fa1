using System.Net.Sockets;
using System.Text;
using BlockDaemon.Ctl.Qmp;
using BlockDaemon.TestKit;

namespace BlockDaemon.Ctl.Tests.Unit;

/// <summary>QmpClient against a scripted peer on a Unix socket: what a misbehaving or vanishing monitor does to it.</summary>
public sealed class QmpClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string Greeting = """{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}""" + "\r\n";

    [Fact]
    public async Task A_monitor_that_never_greets_is_a_connection_error()
    {
        using var dir = new TempDirectory("blockctl-unit-");
        using var listener = Listen(dir["m.sock"]);
        var peer = listener.AcceptAsync(Ct);
        var e = await Assert.ThrowsAsync<QmpConnectionException>(() => QmpClient.ConnectAsync(dir["m.sock"], TimeSpan.FromMilliseconds(200), Ct));
        Assert.StartsWith($"No QMP greeting on '{dir["m.sock"]}'", e.Message, StringComparison.Ordinal);
        (await peer).Dispose();
    }

    [Fact]
    public async Task Replies_match_ids_events_are_queued_and_a_hang_up_fails_what_is_pending()
    {
        using var dir = new TempDirectory("blockctl-unit-");
        using var listener = Listen(dir["m.sock"]);
        var serve = Task.Run(async () =>
        {
            using var peer = await listener.AcceptAsync(Ct);
            await SendAsync(peer, Greeting);
            var requests = new StreamReader(new NetworkStream(peer, ownsSocket: false));
            Assert.Contains("\"qmp_capabilities\"", await requests.ReadLineAsync(Ct), StringComparison.Ordinal);
            await SendAsync(peer, """{"return": {}, "id": 1}""" + "\r\n");
            string first = (await requests.ReadLineAsync(Ct))!;
            string second = (await requests.ReadLineAsync(Ct))!;
            Assert.Contains("\"id\":2", first, StringComparison.Ordinal);
            Assert.Contains("\"id\":3", second, StringComparison.Ordinal);
            // Answer the second first, split across writes, with an event in between; never answer the third.
            await SendAsync(peer, """{"event": "X", "data": {"n": 1}, "timestamp": {"seconds": 1, "microseconds": 2}}""" + "\r\n{\"return\": \"b\",");
            await SendAsync(peer, " \"id\": 3}\r\n" + """{"error": {"class": "GenericError", "desc": "nope"}, "id": 2}""" + "\r\n");
            await requests.ReadLineAsync(Ct);
        }, Ct);

        await using var client = await QmpClient.ConnectAsync(dir["m.sock"], Ct);
        var a = client.ExecuteAsync("a", null, Ct);
        var b = client.ExecuteAsync("b", null, Ct);
        Assert.Equal("b", (string?)await b);
        var error = await Assert.ThrowsAsync<QmpCommandException>(() => a);
        Assert.Equal(("a", "GenericError", "nope"), (error.Command, error.ErrorClass, error.Description));
        Assert.True(client.Events.TryRead(out var e));
        Assert.Equal("X", e.Name);
        Assert.Equal(1L, (long)e.Data["n"]!);

        var pending = client.ExecuteAsync("c", null, Ct);
        await serve;
        await Assert.ThrowsAsync<QmpConnectionException>(() => pending);
        await Assert.ThrowsAsync<QmpConnectionException>(() => client.ExecuteAsync("d", null, Ct));
        Assert.False(await client.Events.WaitToReadAsync(Ct));
    }

    [Fact]
    public async Task Garbage_from_the_peer_ends_the_connection()
    {
        using var dir = new TempDirectory("blockctl-unit-");
        using var listener = Listen(dir["m.sock"]);
        var serve = Task.Run(async () =>
        {
            using var peer = await listener.AcceptAsync(Ct);
            await SendAsync(peer, "[1, 2]\r\n");
            await Task.Delay(Timeout.Infinite, Ct).ContinueWith(_ => { }, TaskScheduler.Default);
        }, Ct);
        var e = await Assert.ThrowsAsync<QmpConnectionException>(() => QmpClient.ConnectAsync(dir["m.sock"], Ct));
        Assert.Contains("malformed QMP", e.Message, StringComparison.Ordinal);
    }

    private static Socket Listen(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        socket.Listen(1);
        return socket;
    }

    private static async Task SendAsync(Socket peer, string text) =>
        await peer.SendAsync(Encoding.UTF8.GetBytes(text), SocketFlags.None, Ct);
}
