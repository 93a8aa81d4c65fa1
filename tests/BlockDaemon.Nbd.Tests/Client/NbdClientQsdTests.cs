using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Nbd.Client;
using BlockDaemon.Nbd.Tests.Interop;
using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Client;

/// <summary>
/// The nbd driver against qemu-storage-daemon 7.2's exports (and qemu-nbd's where qsd has no
/// equivalent): every request kind round-trips, x-dirty-bitmap reads a dirty bitmap through block
/// status, reconnect-delay rides over a restarted server, open-timeout waits for a late one.
/// </summary>
public class NbdClientQsdTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static TestGraph NewGraph()
    {
        var g = new TestGraph();
        g.Graph.RegisterDriver(new NbdClientDriverFactory());
        return g;
    }

    private static Task<StorageDaemonProcess> StartQsdAsync(string socket, string image, string format, params string[] exportOptions) =>
        StorageDaemonProcess.StartAsync("qsd", socket,
            "--blockdev", $"driver=file,node-name=file0,filename={image},discard=unmap",
            "--blockdev", $"driver={format},node-name=disk0,file=file0,discard=unmap",
            "--nbd-server", $"addr.type=unix,addr.path={socket}",
            "--export", string.Join(',', ["type=nbd,id=exp0,node-name=disk0,name=disk", .. exportOptions]));

    [Fact]
    public async Task Reads_writes_zeroes_trims_flushes_and_block_status_round_trip_through_qsd()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo, "qemu-storage-daemon");
        using var dir = new TempDirectory("blockd-nbdc-qsd-");
        string image = dir["disk.qcow2"];
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", image, "8M"], Ct);
        await ExternalTools.RunAsync(ExternalTools.QemuIo, ["-f", "qcow2", "-c", "write -P 0x11 4M 1M", image], Ct);
        using (var qsd = await StartQsdAsync(dir["qsd.sock"], image, "qcow2", "writable=on"))
        {
            await using var g = NewGraph();
            await g.AddAsync(NbdNodes.Unix("n", dir["qsd.sock"], "disk", ("discard", "unmap")), Ct);
            var client = g.Attach("n", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            Assert.Equal(8 << 20, client.Node.Length);

            // Block status as qsd answers it: unallocated qcow2 clusters read as zero holes.
            var empty = await client.BlockStatusAsync(0, 4 << 20, Ct);
            Assert.Equal(BlockStatusFlags.Zero | BlockStatusFlags.Allocated, empty.Flags);
            Assert.Equal(4 << 20, empty.Length);
            var written = await client.BlockStatusAsync(4 << 20, 4 << 20, Ct);
            Assert.Equal(BlockStatusFlags.Data | BlockStatusFlags.Allocated, written.Flags);
            Assert.Equal(1 << 20, written.Length);

            byte[] data = Enumerable.Range(0, 256 << 10).Select(i => (byte)(i * 13 + 1)).ToArray();
            await client.WriteAsync(0, data, WriteFlags.Fua, Ct);
            await client.WriteAsync(1 << 20, data, WriteFlags.None, Ct);
            await client.WriteZeroesAsync(64 << 10, 64 << 10, WriteFlags.None, Ct);
            await client.WriteZeroesAsync(4 << 20, 64 << 10, WriteFlags.MayUnmap, Ct);
            await client.DiscardAsync(1 << 20, 256 << 10, Ct);
            await client.FlushAsync(Ct);

            byte[] back = new byte[256 << 10];
            await client.ReadAsync(0, back, Ct);
            Assert.Equal(data[..(64 << 10)], back[..(64 << 10)]);
            Assert.All(back[(64 << 10)..(128 << 10)], b => Assert.Equal(0, b));
            Assert.Equal(data[(128 << 10)..], back[(128 << 10)..]);
            // qcow2 discards whole clusters: the range reads as zeroes and reports zero.
            await client.ReadAsync(1 << 20, back, Ct);
            Assert.All(back, b => Assert.Equal(0, b));
            Assert.True((await client.BlockStatusAsync(1 << 20, 256 << 10, Ct)).Flags.HasFlag(BlockStatusFlags.Zero));
            Assert.True((await client.BlockStatusAsync(4 << 20, 64 << 10, Ct)).Flags.HasFlag(BlockStatusFlags.Zero));
            Assert.Equal(BlockStatusFlags.Data | BlockStatusFlags.Allocated, (await client.BlockStatusAsync(0, 64 << 10, Ct)).Flags);
        }
        // What qsd wrote into the image, seen by qemu-io.
        await ExternalTools.RunAsync(ExternalTools.QemuIo, ["-f", "qcow2", "-r",
            "-c", "read -P 0 64k 64k", "-c", "read -P 0 1M 256k", "-c", "read -P 0 4M 64k", "-c", "read -P 0x11 4160k 960k", image], Ct);
    }

    [Fact]
    public async Task X_dirty_bitmap_reads_qsds_bitmap_through_block_status()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo, "qemu-storage-daemon");
        using var dir = new TempDirectory("blockd-nbdc-qsd-");
        string image = dir["disk.qcow2"];
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", image, "4M"], Ct);
        await ExternalTools.RunAsync(ExternalTools.QemuIo, ["-f", "qcow2", "-c", "write -P 1 0 4M", image], Ct);
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["bitmap", "--add", image, "b0"], Ct);
        // With b0 enabled, qemu-io's writes mark it: 1M..1M+64k and 3M..3M+128k are dirty.
        await ExternalTools.RunAsync(ExternalTools.QemuIo, ["-f", "qcow2", "-c", "write -P 2 1M 64k", "-c", "write -P 3 3M 128k", image], Ct);
        // qsd exports only disabled bitmaps read-only.
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["bitmap", "--disable", image, "b0"], Ct);
        using var qsd = await StartQsdAsync(dir["qsd.sock"], image, "qcow2", "bitmaps.0=b0");
        await using var g = NewGraph();
        await g.AddAsync(NbdNodes.Unix("n", dir["qsd.sock"], "disk", ("read-only", true), ("x-dirty-bitmap", "qemu:dirty-bitmap:b0")), Ct);
        var client = g.Attach("n", BlockPermissions.ConsistentRead);

        // The dirty bit is the hole bit: dirty ranges read as "not data", clean ones as data.
        var walk = new List<(long, long, bool)>();
        for (long at = 0; at < 4 << 20;)
        {
            var status = await client.BlockStatusAsync(at, (4 << 20) - at, Ct);
            walk.Add((at, status.Length, (status.Flags & BlockStatusFlags.Data) == 0));
            at += status.Length;
        }
        Assert.Equal([(0L, 1L << 20, false), (1L << 20, 64L << 10, true), ((1L << 20) + (64 << 10), (2L << 20) - (64 << 10), false),
            (3L << 20, 128L << 10, true), ((3L << 20) + (128 << 10), (1L << 20) - (128 << 10), false)], walk);
        // Reads are unaffected.
        byte[] back = new byte[64 << 10];
        await client.ReadAsync(1 << 20, back, Ct);
        Assert.All(back, b => Assert.Equal(2, b));

        var e = await Assert.ThrowsAsync<BlockException>(async () =>
            await g.AddAsync(NbdNodes.Unix("m", dir["qsd.sock"], "disk", ("read-only", true), ("x-dirty-bitmap", "qemu:dirty-bitmap:nope")), Ct));
        Assert.Equal("Could not open image: Invalid argument", e.Message);
    }

    [Fact]
    public async Task X_dirty_bitmap_works_against_qemu_nbd_too()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo, "qemu-nbd");
        using var dir = new TempDirectory("blockd-nbdc-qsd-");
        string image = dir["disk.qcow2"];
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", image, "1M"], Ct);
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["bitmap", "--add", image, "b0"], Ct);
        await ExternalTools.RunAsync(ExternalTools.QemuIo, ["-f", "qcow2", "-c", "write -P 2 512k 64k", image], Ct);
        using var server = await QemuNbdProcess.StartAsync(dir["nbd.sock"], image, "qcow2", "disk", "-r", "-B", "b0");
        await using var g = NewGraph();
        await g.AddAsync(NbdNodes.Unix("n", server.SocketPath, "disk", ("read-only", true), ("x-dirty-bitmap", "qemu:dirty-bitmap:b0")), Ct);
        var client = g.Attach("n", BlockPermissions.ConsistentRead);
        var clean = await client.BlockStatusAsync(0, 1 << 20, Ct);
        Assert.Equal((512L << 10, true), (clean.Length, clean.Flags.HasFlag(BlockStatusFlags.Data)));
        var dirty = await client.BlockStatusAsync(512 << 10, 512 << 10, Ct);
        Assert.Equal((64L << 10, false), (dirty.Length, dirty.Flags.HasFlag(BlockStatusFlags.Data)));
    }

    [Fact]
    public async Task Requests_wait_for_qsd_to_come_back_within_reconnect_delay()
    {
        ExternalTools.Require(ExternalTools.QemuImg, "qemu-storage-daemon");
        using var dir = new TempDirectory("blockd-nbdc-qsd-");
        string image = dir["disk.raw"];
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "raw", image, "1M"], Ct);
        var first = await StartQsdAsync(dir["qsd.sock"], image, "raw", "writable=on");
        StorageDaemonProcess? second = null;
        try
        {
            await using var g = NewGraph();
            await g.AddAsync(NbdNodes.Unix("n", dir["qsd.sock"], "disk", ("reconnect-delay", 30L)), Ct);
            var client = g.Attach("n", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            await client.WriteAsync(0, Enumerable.Repeat((byte)0x42, 4096).ToArray(), WriteFlags.Fua, Ct);
            first.Dispose();

            // Sent while no server is there: it waits inside the reconnect window.
            byte[] seen = new byte[4096];
            var read = client.ReadAsync(0, seen, Ct).AsTask();
            File.Delete(dir["qsd.sock"]);
            second = await StartQsdAsync(dir["qsd.sock"], image, "raw", "writable=on");
            await read.WaitAsync(TimeSpan.FromSeconds(30), Ct);
            Assert.All(seen, b => Assert.Equal(0x42, b));
            await client.WriteAsync(4096, Enumerable.Repeat((byte)0x43, 4096).ToArray(), WriteFlags.Fua, Ct);
            await client.ReadAsync(4096, seen, Ct);
            Assert.All(seen, b => Assert.Equal(0x43, b));
        }
        finally
        {
            first.Dispose();
            second?.Dispose();
        }
    }

    [Fact]
    public async Task Open_timeout_waits_for_a_server_that_starts_late()
    {
        ExternalTools.Require(ExternalTools.QemuImg, "qemu-storage-daemon");
        using var dir = new TempDirectory("blockd-nbdc-qsd-");
        string image = dir["disk.raw"];
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "raw", image, "1M"], Ct);
        await using var g = NewGraph();

        // Without open-timeout one attempt is made, and it fails in qemu's words.
        var e = await Assert.ThrowsAsync<BlockException>(async () => await g.AddAsync(NbdNodes.Unix("a", dir["qsd.sock"], "disk"), Ct));
        Assert.Equal($"Failed to connect to '{dir["qsd.sock"]}': No such file or directory", e.Message);

        // With it, the open keeps trying until the server is there.
        var open = g.AddAsync(NbdNodes.Unix("b", dir["qsd.sock"], "disk", ("read-only", true), ("open-timeout", 60L)), Ct).AsTask();
        Assert.False(open.IsCompleted);
        using var qsd = await StartQsdAsync(dir["qsd.sock"], image, "raw");
        await open.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        var client = g.Attach("b", BlockPermissions.ConsistentRead);
        Assert.Equal(1 << 20, client.Node.Length);
    }
}
