using BlockDaemon.Core.Bitmaps;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>
/// Persistent bitmaps both ways: bits QEMU stored (its sparse layout, all-zero clusters left
/// out) load here bit for bit; bits we store are read the same by QEMU (qemu-nbd -B, mapped
/// with nbdinfo); the images pass qemu-img check.
/// </summary>
public sealed class BitmapInteropTests : IDisposable
{
    private const long Size = 256L << 20;
    private const int Granularity = 65536;
    private readonly TempDirectory _dir = new("blockd-bitmap-interop-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Bits_qemu_stored_load_unchanged_and_survive_our_rewrite()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo, "qemu-nbd", "nbdinfo");
        string image = _dir["q.qcow2"];
        await Qemu.CreateAsync(image, Size, null, Ct);
        await Qemu.AddBitmapAsync(image, "b", Ct);
        // Bits in the first and last data clusters of the bitmap (512 Ki granules each at 64 KiB
        // clusters: 32 GiB) would need a bigger disk; scatter them instead, leaving gaps.
        await Qemu.IoAsync(image, Ct, "write 0 4096", "write 100M 200k", $"write {Size - 512} 512", "write -z 30M 1M");
        var qemu = await QemuDirtyGranulesAsync(image);
        Assert.NotEmpty(qemu);

        await using (var ours = await OurImage.OpenAsync(image, Ct))
        {
            var bitmap = Assert.Single(ours.Edge.Node.DirtyBitmaps);
            Assert.Equal("b", bitmap.Name);
            Assert.True(bitmap.Persistent);
            Assert.Equal(qemu, Granules(bitmap));
            await ours.Edge.WriteAsync(200L << 20, new byte[4096], ct: Ct);
        }
        await Qemu.AssertCleanAsync(image, "after our session", Ct);
        var after = await QemuDirtyGranulesAsync(image);
        Assert.Equal(qemu.Append((200L << 20) / Granularity).Order(), after.Order());
    }

    [Fact]
    public async Task Bits_we_store_read_the_same_in_qemu()
    {
        ExternalTools.Require(ExternalTools.QemuImg, "qemu-nbd", "nbdinfo");
        string image = _dir["o.qcow2"];
        await Qemu.CreateAsync(image, Size, "cluster_size=4096", Ct);
        HashSet<long> ours;
        await using (var img = await OurImage.OpenAsync(image, Ct))
        {
            var node = img.Edge.Node;
            var bitmap = node.CreateDirtyBitmap("b", Granularity);
            bitmap.Persistent = true;
            var store = Assert.IsAssignableFrom<IPersistentBitmapStore>(node.Driver);
            await store.AddAsync(bitmap, Ct);
            var random = new Random(7);
            for (int i = 0; i < 300; i++)
            {
                await img.Edge.WriteAsync(random.NextInt64(0, Size / 512) * 512, new byte[512], ct: Ct);
            }
            await img.Edge.DiscardAsync(64L << 20, 1 << 20, Ct);
            ours = Granules(bitmap);
        }
        await Qemu.AssertCleanAsync(image, "after our session", Ct);
        Assert.Equal(ours.Order(), (await QemuDirtyGranulesAsync(image)).Order());
    }

    [Fact]
    public async Task A_write_ahead_stores_its_whole_64_MiB_region_until_the_image_is_closed()
    {
        ExternalTools.Require(ExternalTools.QemuImg, "qemu-nbd", "nbdinfo");
        string image = _dir["w.qcow2"];
        await Qemu.CreateAsync(image, Size, null, Ct);
        const long region = (64L << 20) / Granularity;
        await using (var img = await OurImage.OpenAsync(image, Ct))
        {
            var node = img.Edge.Node;
            var bitmap = node.CreateDirtyBitmap("b", Granularity);
            bitmap.Persistent = true;
            await Assert.IsAssignableFrom<IPersistentBitmapStore>(node.Driver).AddAsync(bitmap, Ct);
            await img.Edge.WriteAsync(100L << 20, new byte[4096], ct: Ct);
            await img.Edge.WriteAsync(200L << 20, new byte[4096], ct: Ct);

            // What a crash would leave (a copy of the file as it is now): a superset, the aligned
            // regions around both writes.
            File.Copy(image, _dir["crashed.qcow2"]);
            var onDisk = await QemuDirtyGranulesAsync(_dir["crashed.qcow2"]);
            var regions = Enumerable.Range(0, (int)region).Select(i => region + i)
                .Concat(Enumerable.Range(0, (int)region).Select(i => (3 * region) + i));
            Assert.Equal(regions.Order(), onDisk.Order());
        }
        // A clean close stores the exact bits.
        Assert.Equal(new[] { (100L << 20) / Granularity, (200L << 20) / Granularity }, (await QemuDirtyGranulesAsync(image)).Order());
        await Qemu.AssertCleanAsync(image, "after our session", Ct);
    }

    private static HashSet<long> Granules(DirtyBitmap bitmap)
    {
        var set = new HashSet<long>();
        lock (bitmap.SyncRoot)
        {
            for (long bit = bitmap.Bits.NextSet(0); bit >= 0; bit = bit + 1 < bitmap.Bits.Length ? bitmap.Bits.NextSet(bit + 1) : -1)
            {
                set.Add(bit);
            }
        }
        return set;
    }

    private static async Task<HashSet<long>> QemuDirtyGranulesAsync(string image)
    {
        var map = await ExternalTools.RunAsync("nbdinfo",
            ["--map=qemu:dirty-bitmap:b", "--", "[", "qemu-nbd", "-r", "-f", "qcow2", "-B", "b", image, "]"], Ct);
        var dirty = new HashSet<long>();
        foreach (string line in map.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields[2] == "1")
            {
                long offset = long.Parse(fields[0]);
                long end = offset + long.Parse(fields[1]);
                for (long g = offset / Granularity; g < (end + Granularity - 1) / Granularity; g++)
                {
                    dirty.Add(g);
                }
            }
        }
        return dirty;
    }
}
