using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Nbd.Client;
using BlockDaemon.Nbd.Tests.Interop;
using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Client;

/// <summary>reconnect-delay against qemu-nbd: a server that comes back in time, and one that does not.</summary>
public class NbdClientReconnectTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Requests_wait_for_a_server_that_comes_back_within_reconnect_delay()
    {
        ExternalTools.Require("qemu-img", "qemu-nbd");
        using var dir = new TempDirectory("blockd-nbdc-");
        string image = dir["disk.raw"];
        await ExternalTools.RunAsync("qemu-img", ["create", "-f", "raw", image, "1M"], Ct);
        var first = await QemuNbdProcess.StartAsync(dir["nbd.sock"], image, "raw", "disk");
        QemuNbdProcess? second = null;
        try
        {
            // The graph closes (flushing the node) before the second server goes away.
            await using var g = new TestGraph();
            g.Graph.RegisterDriver(new NbdClientDriverFactory());
            await g.AddAsync(NbdNodes.Unix("n", first.SocketPath, "disk", ("reconnect-delay", 20L)), Ct);
            var client = g.Attach("n", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            await client.WriteAsync(0, Enumerable.Repeat((byte)0x77, 4096).ToArray(), WriteFlags.None, Ct);
            await client.FlushAsync(Ct);
            first.Dispose();

            byte[] seen = new byte[4096];
            var read = client.ReadAsync(0, seen, Ct).AsTask();
            await Task.Delay(500, Ct);
            Assert.False(read.IsCompleted, "the read should wait for the reconnection");
            File.Delete(dir["nbd.sock"]);
            second = await QemuNbdProcess.StartAsync(dir["nbd.sock"], image, "raw", "disk");
            await read.WaitAsync(TimeSpan.FromSeconds(5), Ct);
            Assert.All(seen, b => Assert.Equal(0x77, b));
            await client.WriteAsync(4096, Enumerable.Repeat((byte)0x78, 4096).ToArray(), WriteFlags.None, Ct);
        }
        finally
        {
            first.Dispose();
            second?.Dispose();
        }
    }

    [Fact]
    public async Task Requests_fail_with_EIO_once_reconnect_delay_has_passed()
    {
        ExternalTools.Require("qemu-img", "qemu-nbd");
        using var dir = new TempDirectory("blockd-nbdc-");
        string image = dir["disk.raw"];
        await ExternalTools.RunAsync("qemu-img", ["create", "-f", "raw", image, "1M"], Ct);
        using var server = await QemuNbdProcess.StartAsync(dir["nbd.sock"], image, "raw", "disk");
        await using var g = new TestGraph();
        g.Graph.RegisterDriver(new NbdClientDriverFactory());
        await g.AddAsync(NbdNodes.Unix("n", server.SocketPath, "disk", ("reconnect-delay", 1L)), Ct);
        var client = g.Attach("n", BlockPermissions.ConsistentRead | BlockPermissions.Write);
        server.Kill();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<BlockException>(async () =>
            await client.ReadAsync(0, new byte[4096], Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(BlockErrorKind.IoError, e.Kind);
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(8));
        // Once the window has passed, a request makes one attempt and fails at once.
        watch.Restart();
        e = await Assert.ThrowsAsync<BlockException>(async () =>
            await client.ReadAsync(0, new byte[4096], Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(BlockErrorKind.IoError, e.Kind);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(0.9), watch.Elapsed.ToString());
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(0L)]
    public async Task After_the_window_the_driver_reconnects_in_the_background(long reconnectDelay)
    {
        ExternalTools.Require("qemu-img", "qemu-nbd", "qemu-io");
        using var dir = new TempDirectory("blockd-nbdc-");
        string image = dir["disk.raw"];
        await ExternalTools.RunAsync("qemu-img", ["create", "-f", "raw", image, "1M"], Ct);
        var first = await QemuNbdProcess.StartAsync(dir["nbd.sock"], image, "raw", "disk");
        QemuNbdProcess? second = null;
        try
        {
            await using var g = new TestGraph();
            g.Graph.RegisterDriver(new NbdClientDriverFactory());
            await g.AddAsync(NbdNodes.Unix("n", first.SocketPath, "disk", ("reconnect-delay", reconnectDelay)), Ct);
            var client = g.Attach("n", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            first.Kill();
            var e = await Assert.ThrowsAsync<BlockException>(async () =>
                await client.ReadAsync(0, new byte[4096], Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct));
            Assert.Equal(BlockErrorKind.IoError, e.Kind);

            // No request is made while the server comes back: the driver finds it by itself.
            await ExternalTools.RunAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x5c 0 4096", image], Ct);
            File.Delete(dir["nbd.sock"]);
            second = await QemuNbdProcess.StartAsync(dir["nbd.sock"], image, "raw", "disk");
            byte[] seen = new byte[4096];
            bool read = false;
            // The background attempts back off up to 16 s, so allow a few rounds.
            for (int i = 0; i < 200 && !read; i++)
            {
                try
                {
                    await client.ReadAsync(0, seen, Ct);
                    read = true;
                }
                catch (BlockException failed) when (failed.Kind == BlockErrorKind.IoError)
                {
                    await Task.Delay(250, Ct);
                }
            }
            Assert.True(read, "the driver did not reconnect in the background");
            Assert.All(seen, b => Assert.Equal(0x5c, b));
        }
        finally
        {
            first.Dispose();
            second?.Dispose();
        }
    }
}
