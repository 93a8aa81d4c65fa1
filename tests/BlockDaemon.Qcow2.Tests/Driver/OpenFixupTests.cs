using System.Buffers.Binary;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>
/// What a read-write open changes in the header before any guest write, as qsd does: the dirty
/// bit is repaired away and unknown autoclear bits are cleared. The bitmaps bit survives an
/// open without writes and is cleared by the first write (blockd keeps no bitmaps up to date).
/// </summary>
public sealed class OpenFixupTests
{
    private const ulong BitmapsBit = 1;
    private const ulong UnknownAutoclearBit = 1UL << 63;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<TestGraph> OpenAsync(string path, bool readOnly)
    {
        var g = new TestGraph();
        g.Graph.RegisterDriver(new Qcow2DriverFactory());
        await g.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(path)), ("read-only", readOnly)), Ct);
        return g;
    }

    private static ulong ReadField(string image, int offset)
    {
        using var stream = File.OpenRead(image);
        var bytes = new byte[8];
        stream.Position = offset;
        stream.ReadExactly(bytes);
        return BinaryPrimitives.ReadUInt64BigEndian(bytes);
    }

    private static void WriteField(string image, int offset, ulong value)
    {
        using var stream = File.OpenWrite(image);
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        stream.Position = offset;
        stream.Write(bytes);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_dirty_bit_is_repaired_at_read_write_open_only(bool readOnly)
    {
        using var dir = new TempDirectory();
        string image = dir["dirty.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", image, "1M");
        WriteField(image, 72, 1);
        await using (var g = await OpenAsync(image, readOnly))
        {
            // Already done before anybody wrote, and while the node is still open.
            Assert.Equal(readOnly ? 1UL : 0UL, ReadField(image, 72));
        }
        Assert.Equal(readOnly ? 1UL : 0UL, ReadField(image, 72));
    }

    [Fact]
    public async Task Unknown_autoclear_bits_go_at_open_and_the_bitmaps_bit_stays_through_writes()
    {
        using var dir = new TempDirectory();
        string image = dir["bm.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "1M");
        await QemuImg.RunAsync("qemu-img", "bitmap", "--add", image, "b0");
        WriteField(image, 88, ReadField(image, 88) | UnknownAutoclearBit);

        await using (var g = await OpenAsync(image, readOnly: false))
        {
            Assert.Equal(BitmapsBit, ReadField(image, 88));
        }
        // Nothing was written: the bitmap is still valid for QEMU.
        Assert.Equal(BitmapsBit, ReadField(image, 88));
        await QemuImg.RunAsync("qemu-img", "check", image);

        await using (var g = await OpenAsync(image, readOnly: false))
        {
            var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            await edge.WriteAsync(0, new byte[] { 1 }, WriteFlags.None, Ct);
            // blockd maintains the bitmap (written ahead of the data), so it stays valid.
            Assert.Equal(BitmapsBit, ReadField(image, 88));
        }
        await QemuImg.RunAsync("qemu-img", "check", image);
    }
}
