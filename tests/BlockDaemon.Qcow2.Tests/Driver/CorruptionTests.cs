using System.Buffers.Binary;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>
/// An inconsistency found at run time: one BLOCK_IMAGE_CORRUPTED event; on a writable node the
/// image is marked corrupt and the node refuses writes; a read-only node just reports it.
/// </summary>
public sealed class CorruptionTests
{
    // qemu-img create + "write 0 64k": L1 at 0x30000, L2 at 0x40000, data at 0x50000.
    private const long L2Table = 0x40000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<string> ImageWithUnalignedDataClusterAsync(TempDirectory dir)
    {
        string image = dir["c.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "64M");
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k", image);
        await using var f = File.Open(image, FileMode.Open, FileAccess.ReadWrite);
        var entry = new byte[8];
        f.Position = L2Table;
        await f.ReadExactlyAsync(entry, Ct);
        BinaryPrimitives.WriteUInt64BigEndian(entry, BinaryPrimitives.ReadUInt64BigEndian(entry) + 0x200);
        f.Position = L2Table;
        await f.WriteAsync(entry, Ct);
        return image;
    }

    private static async Task<TestGraph> OpenAsync(string path, bool readOnly)
    {
        var g = new TestGraph();
        g.Graph.RegisterDriver(new Qcow2DriverFactory());
        await g.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(path)), ("read-only", readOnly)), Ct);
        return g;
    }

    [Fact]
    public async Task A_writable_node_marks_the_image_corrupt_reports_once_and_refuses_writes()
    {
        using var dir = new TempDirectory();
        string image = await ImageWithUnalignedDataClusterAsync(dir);
        await using (var g = await OpenAsync(image, readOnly: false))
        {
            var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            var first = await Assert.ThrowsAsync<BlockException>(async () => await edge.ReadAsync(0, new byte[4096], Ct));
            Assert.Equal(BlockErrorKind.Corrupt, first.Kind);
            await Assert.ThrowsAsync<BlockException>(async () => await edge.ReadAsync(0, new byte[4096], Ct));
            var write = await Assert.ThrowsAsync<BlockException>(async () => await edge.WriteAsync(1 << 20, new byte[4096], WriteFlags.None, Ct));
            Assert.Equal(BlockErrorKind.ReadOnly, write.Kind);

            var ev = Assert.Single(g.Events.ImageCorruptedEvents);
            Assert.Equal("q", ev.NodeName);
            Assert.True(ev.Fatal);
            Assert.Contains("unaligned", ev.Message, StringComparison.Ordinal);
            // Untouched clusters still read.
            await edge.ReadAsync(1 << 20, new byte[4096], Ct);
        }
        Assert.Contains("\"corrupt\": true", await QemuImg.RunAsync("qemu-img", "info", "--output=json", image), StringComparison.Ordinal);

        await using var again = new TestGraph();
        again.Graph.RegisterDriver(new Qcow2DriverFactory());
        var reopen = await Assert.ThrowsAsync<BlockException>(async () =>
            await again.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(image))), Ct));
        Assert.Equal("qcow2: Image is corrupt; cannot be opened read/write", reopen.Message);
    }

    [Fact]
    public async Task A_read_only_node_reports_without_marking_the_image()
    {
        using var dir = new TempDirectory();
        string image = await ImageWithUnalignedDataClusterAsync(dir);
        byte[] before = await File.ReadAllBytesAsync(image, Ct);
        await using (var g = await OpenAsync(image, readOnly: true))
        {
            var edge = g.Attach("q", BlockPermissions.ConsistentRead);
            await Assert.ThrowsAsync<BlockException>(async () => await edge.ReadAsync(0, new byte[4096], Ct));
            var ev = Assert.Single(g.Events.ImageCorruptedEvents);
            Assert.False(ev.Fatal);
        }
        Assert.Equal(before, await File.ReadAllBytesAsync(image, Ct));
    }

    [Fact]
    public async Task An_l1_table_on_the_header_is_never_written_over_it()
    {
        using var dir = new TempDirectory();
        string image = dir["h.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "2G");
        await using (var f = File.Open(image, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = 40;
            await f.WriteAsync(new byte[8], Ct); // l1_table_offset = 0
        }
        byte[] header = (await File.ReadAllBytesAsync(image, Ct))[..72];
        await using (var g = await OpenAsync(image, readOnly: false))
        {
            var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            // L1[1] is header bytes 8-15 (no backing file: zero), so guest offset 512 MiB needs a
            // new L2 table; the write lands in the cache, and writing the L1 entry is refused.
            var error = await Assert.ThrowsAsync<BlockException>(async () =>
            {
                await edge.WriteAsync(512L << 20, new byte[65536], WriteFlags.None, Ct);
                await edge.FlushAsync(Ct);
            });
            Assert.Equal("Preventing invalid write on metadata (overlaps with qcow2_header)", error.Message);
            Assert.True(Assert.Single(g.Events.ImageCorruptedEvents).Fatal);
        }
        byte[] after = (await File.ReadAllBytesAsync(image, Ct))[..72];
        Assert.Equal(header, after);
    }
}
