using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Nbd.Client;
using BlockDaemon.Nbd.Tests.Interop;
using BlockDaemon.Qcow2;
using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Client;

/// <summary>
/// The nbd driver against qemu-nbd (skipped when it is not installed), with the results checked
/// by qemu-io and qemu-img on the image qemu-nbd served.
/// </summary>
public class NbdClientQemuNbdTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static TestGraph NewGraph()
    {
        var g = new TestGraph();
        g.Graph.RegisterDriver(new NbdClientDriverFactory());
        g.Graph.RegisterDriver(new Qcow2DriverFactory());
        return g;
    }

    [Fact]
    public async Task Writes_zeroes_and_discards_land_in_the_image_qemu_nbd_serves()
    {
        ExternalTools.Require("qemu-img", "qemu-io", "qemu-nbd");
        using var dir = new TempDirectory("blockd-nbdc-");
        string image = dir["disk.raw"];
        await ExternalTools.RunAsync("qemu-img", ["create", "-f", "raw", image, "4M"], Ct);
        using (var server = await QemuNbdProcess.StartAsync(dir["nbd.sock"], image, "raw", "disk"))
        {
            await using var g = NewGraph();
            await g.AddAsync(NbdNodes.Unix("n", server.SocketPath, "disk", ("discard", "unmap")), Ct);
            var client = g.Attach("n", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            Assert.Equal(4 << 20, client.Node.Length);
            // qemu-img allocates the first 4 KiB of a new raw image; the rest is a hole.
            Assert.True((await client.BlockStatusAsync(1 << 20, 1 << 20, Ct)).Flags.HasFlag(BlockStatusFlags.Zero));
            await client.WriteAsync(0, Enumerable.Repeat((byte)0xab, 256 << 10).ToArray(), WriteFlags.Fua, Ct);
            await client.WriteZeroesAsync(64 << 10, 64 << 10, WriteFlags.None, Ct);
            await client.DiscardAsync(192 << 10, 64 << 10, Ct);
            await client.FlushAsync(Ct);
            var status = await client.BlockStatusAsync(0, 4 << 20, Ct);
            Assert.True(status.Flags.HasFlag(BlockStatusFlags.Data), status.ToString());
            Assert.InRange(status.Length, 1, 64 << 10);
            byte[] back = new byte[64 << 10];
            await client.ReadAsync(128 << 10, back, Ct);
            Assert.All(back, b => Assert.Equal(0xab, b));
            await client.ReadAsync(64 << 10, back, Ct);
            Assert.All(back, b => Assert.Equal(0, b));
        }
        await ExternalTools.RunAsync("qemu-io", ["-f", "raw", "-c", "read -P 0xab 0 64k", "-c", "read -P 0 64k 64k",
            "-c", "read -P 0xab 128k 64k", "-c", "read -P 0 256k 64k", image], Ct);
    }

    [Fact]
    public async Task Qcow2_over_an_nbd_file_child_writes_an_image_qemu_img_accepts()
    {
        ExternalTools.Require("qemu-img", "qemu-io", "qemu-nbd");
        using var dir = new TempDirectory("blockd-nbdc-");
        string image = dir["disk.qcow2"];
        // An NBD export cannot grow (in qemu neither), so the image gets its room up front.
        await ExternalTools.RunAsync("qemu-img", ["create", "-f", "qcow2", "-o", "preallocation=metadata", image, "8M"], Ct);
        await ExternalTools.RunAsync("qemu-io", ["-f", "qcow2", "-c", "write -P 0x11 0 128k", image], Ct);
        using (var server = await QemuNbdProcess.StartAsync(dir["nbd.sock"], image, "raw", "img"))
        {
            await using var g = NewGraph();
            await g.AddAsync(TestKit.Opt.Dict(("driver", "qcow2"), ("node-name", "q"), ("file", NbdNodes.UnixChild(server.SocketPath, "img"))), Ct);
            var q = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            Assert.Equal(8 << 20, q.Node.Length);
            byte[] old = new byte[128 << 10];
            await q.ReadAsync(0, old, Ct);
            Assert.All(old, b => Assert.Equal(0x11, b));
            await q.WriteAsync(1 << 20, Enumerable.Repeat((byte)0x22, 192 << 10).ToArray(), WriteFlags.None, Ct);
            await q.FlushAsync(Ct);
        }
        await ExternalTools.RunAsync("qemu-img", ["check", image], Ct);
        await ExternalTools.RunAsync("qemu-io", ["-f", "qcow2", "-c", "read -P 0x11 0 128k", "-c", "read -P 0x22 1M 192k", "-c", "read -P 0 128k 896k", image], Ct);
    }

    [Fact]
    public async Task Killing_qemu_nbd_fails_requests_with_EIO_without_hanging()
    {
        ExternalTools.Require("qemu-img", "qemu-nbd");
        using var dir = new TempDirectory("blockd-nbdc-");
        string image = dir["disk.raw"];
        await ExternalTools.RunAsync("qemu-img", ["create", "-f", "raw", image, "1M"], Ct);
        using var server = await QemuNbdProcess.StartAsync(dir["nbd.sock"], image, "raw", "disk");
        await using var g = NewGraph();
        await g.AddAsync(NbdNodes.Unix("n", server.SocketPath, "disk"), Ct);
        var client = g.Attach("n", BlockPermissions.ConsistentRead | BlockPermissions.Write);
        await client.ReadAsync(0, new byte[4096], Ct);
        server.Kill();
        var e = await Assert.ThrowsAsync<BlockException>(async () =>
            await client.ReadAsync(0, new byte[4096], Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(BlockErrorKind.IoError, e.Kind);
        e = await Assert.ThrowsAsync<BlockException>(async () =>
            await client.FlushAsync(Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(BlockErrorKind.IoError, e.Kind);
    }

    [Fact]
    public async Task A_read_only_qemu_nbd_export_refuses_a_read_write_open()
    {
        ExternalTools.Require("qemu-img", "qemu-nbd");
        using var dir = new TempDirectory("blockd-nbdc-");
        string image = dir["disk.raw"];
        await ExternalTools.RunAsync("qemu-img", ["create", "-f", "raw", image, "1M"], Ct);
        using var server = await QemuNbdProcess.StartAsync(dir["nbd.sock"], image, "raw", "disk", "-r");
        await using var g = NewGraph();
        var e = await Assert.ThrowsAsync<BlockException>(async () => await g.AddAsync(NbdNodes.Unix("n", server.SocketPath, "disk"), Ct));
        Assert.Equal("Could not open image: Permission denied", e.Message);
        e = await Assert.ThrowsAsync<BlockException>(async () => await g.AddAsync(NbdNodes.Unix("m", server.SocketPath, "other", ("read-only", true)), Ct));
        Assert.Equal("Requested export not available", e.Message);
    }
}
