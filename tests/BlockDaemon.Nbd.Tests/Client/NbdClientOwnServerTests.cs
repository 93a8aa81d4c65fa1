using System.Net;
using System.Net.Sockets;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Nbd.Client;
using BlockDaemon.Nbd.Tests.Server;
using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Client;

/// <summary>The nbd driver against our own in-process server: every command, concurrency, errors.</summary>
public class NbdClientOwnServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(ServerHarness Harness, BlockChild Client, BlockChild Backing)> StartAsync(long size = 4 << 20)
    {
        var h = ServerHarness.Start();
        h.TestGraph.Graph.RegisterDriver(new NbdClientDriverFactory());
        await h.ExportMemoryAsync("disk", size);
        await h.TestGraph.AddAsync(NbdNodes.Unix("n", h.SocketPath, "disk", ("discard", "unmap")), Ct);
        return (h, h.TestGraph.Attach("n", BlockPermissions.ConsistentRead | BlockPermissions.Write),
            h.TestGraph.Attach("disk", BlockPermissions.ConsistentRead));
    }

    [Fact]
    public async Task Reads_writes_zeroes_discard_flush_and_block_status_reach_the_export()
    {
        var (h, client, backing) = await StartAsync();
        await using var _ = h;
        Assert.Equal(4 << 20, client.Node.Length);
        byte[] data = Enumerable.Range(0, 128 << 10).Select(i => (byte)(i * 7)).ToArray();
        await client.WriteAsync(64 << 10, data, WriteFlags.Fua, Ct);
        await client.FlushAsync(Ct);
        byte[] seen = new byte[data.Length];
        await backing.ReadAsync(64 << 10, seen, Ct);
        Assert.Equal(data, seen);
        Array.Clear(seen);
        await client.ReadAsync(64 << 10, seen, Ct);
        Assert.Equal(data, seen);

        var status = await client.BlockStatusAsync(64 << 10, 128 << 10, Ct);
        Assert.True((status.Flags & BlockStatusFlags.Data) != 0, status.ToString());
        Assert.False((status.Flags & BlockStatusFlags.Zero) != 0, status.ToString());

        await client.WriteZeroesAsync(64 << 10, 64 << 10, WriteFlags.None, Ct);
        await client.ReadAsync(64 << 10, seen, Ct);
        Assert.All(seen[..(64 << 10)], b => Assert.Equal(0, b));
        Assert.Equal(data[(64 << 10)..], seen[(64 << 10)..]);

        await client.DiscardAsync(128 << 10, 64 << 10, Ct);
        var hole = await client.BlockStatusAsync(1 << 20, 1 << 20, Ct);
        Assert.True((hole.Flags & BlockStatusFlags.Zero) != 0, hole.ToString());
    }

    [Fact]
    public async Task Many_requests_in_flight_each_get_their_own_reply()
    {
        var (h, client, _) = await StartAsync();
        await using var _ = h;
        var writes = Enumerable.Range(0, 64).Select(i =>
            client.WriteAsync(i * 4096L, Enumerable.Repeat((byte)i, 4096).ToArray(), WriteFlags.None, Ct).AsTask());
        await Task.WhenAll(writes);
        var reads = Enumerable.Range(0, 64).Select(async i =>
        {
            byte[] buffer = new byte[4096];
            await client.ReadAsync(i * 4096L, buffer, Ct);
            Assert.All(buffer, b => Assert.Equal((byte)i, b));
        });
        await Task.WhenAll(reads);
    }

    [Fact]
    public async Task A_missing_export_fails_in_qsds_words()
    {
        await using var h = ServerHarness.Start();
        h.TestGraph.Graph.RegisterDriver(new NbdClientDriverFactory());
        var e = await Assert.ThrowsAsync<BlockException>(async () => await h.TestGraph.AddAsync(NbdNodes.Unix("n", h.SocketPath, "nope"), Ct));
        Assert.Equal("Requested export not available", e.Message);
    }

    [Fact]
    public async Task A_read_only_export_opens_only_read_only()
    {
        await using var h = ServerHarness.Start();
        h.TestGraph.Graph.RegisterDriver(new NbdClientDriverFactory());
        await h.ExportMemoryAsync("ro", 1 << 20, writable: false);
        var e = await Assert.ThrowsAsync<BlockException>(async () => await h.TestGraph.AddAsync(NbdNodes.Unix("n", h.SocketPath, "ro"), Ct));
        Assert.Equal("Could not open image: Permission denied", e.Message);
        var node = await h.TestGraph.AddAsync(NbdNodes.Unix("r", h.SocketPath, "ro", ("read-only", true)), Ct);
        Assert.True(node.ReadOnly);
        var auto = await h.TestGraph.AddAsync(NbdNodes.Unix("a", h.SocketPath, "ro", ("auto-read-only", true)), Ct);
        Assert.True(auto.ReadOnly);
    }

    [Fact]
    public async Task A_missing_socket_and_a_refused_port_fail_in_qsds_words()
    {
        await using var g = new TestGraph();
        g.Graph.RegisterDriver(new NbdClientDriverFactory());
        using var dir = new TempDirectory("blockd-nbdc-");
        var e = await Assert.ThrowsAsync<BlockException>(async () => await g.AddAsync(NbdNodes.Unix("n", dir["none.sock"], "x"), Ct));
        Assert.Equal($"Failed to connect to '{dir["none.sock"]}': No such file or directory", e.Message);

        // A port that was just free: bind, note it, close.
        int port;
        using (var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        }
        var inet = TestKit.Opt.Dict(("driver", "nbd"), ("node-name", "t"),
            ("server", TestKit.Opt.Dict(("type", "inet"), ("host", "127.0.0.1"), ("port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)))));
        e = await Assert.ThrowsAsync<BlockException>(async () => await g.AddAsync(inet, Ct));
        Assert.Equal($"Failed to connect to '127.0.0.1:{port}': Connection refused", e.Message);
    }

    [Fact]
    public async Task Open_timeout_waits_for_a_server_that_comes_up_late()
    {
        await using var g = new TestGraph();
        g.Graph.RegisterDriver(new NbdClientDriverFactory());
        using var dir = new TempDirectory("blockd-nbdc-");
        var open = g.AddAsync(NbdNodes.Unix("n", dir["late.sock"], "disk", ("open-timeout", 10L)), Ct).AsTask();
        await Task.Delay(300, Ct);
        Assert.False(open.IsCompleted);
        await using var server = BlockDaemon.Nbd.Server.NbdServer.ListenUnix(dir["late.sock"], null);
        var memory = await g.AddAsync(TestKit.Opt.Dict(("driver", "memory"), ("node-name", "disk"), ("size", 1L << 20)), Ct);
        server.Exports.Add(BlockDaemon.Nbd.Server.NbdExport.Attach(g.Graph, memory, "disk", null, true));
        var node = await open.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(1 << 20, node.Length);
        await g.Graph.DeleteNodeAsync("n", Ct);
    }

    [Fact]
    public async Task Requests_fail_with_EIO_once_the_server_is_gone()
    {
        var (h, client, _) = await StartAsync();
        await using var _ = h;
        await client.ReadAsync(0, new byte[4096], Ct);
        await h.Server.DisposeAsync();
        var e = await Assert.ThrowsAsync<BlockException>(async () =>
            await client.ReadAsync(0, new byte[4096], Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(BlockErrorKind.IoError, e.Kind);
        // Later requests fail at once too (reconnect-delay is 0).
        e = await Assert.ThrowsAsync<BlockException>(async () =>
            await client.WriteAsync(0, new byte[512], WriteFlags.None, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(BlockErrorKind.IoError, e.Kind);
    }
}
