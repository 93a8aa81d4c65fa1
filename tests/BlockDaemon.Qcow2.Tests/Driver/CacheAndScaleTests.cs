using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

[Collection(nameof(MeasuredAloneCollection))]
public sealed class CacheAndScaleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(TestGraph Graph, BlockNode Node)> OpenAsync(string path, params (string Key, object? Value)[] extra)
    {
        var g = new TestGraph();
        g.Graph.RegisterDriver(new Qcow2DriverFactory());
        var node = await g.AddAsync(Opt.Node("qcow2", "q", [("file", Opt.File(path)), .. extra]), Ct);
        return (g, node);
    }

    [Fact]
    public async Task Idle_tables_leave_the_caches_after_the_clean_interval()
    {
        using var dir = new TempDirectory();
        string image = dir["c.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", image, "64M");
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write 0 4k", "-c", "write 16M 4k", "-c", "write 40M 4k", image);
        var (g, node) = await OpenAsync(image, ("cache-clean-interval", 1L));
        await using (g)
        {
            var edge = g.Attach("q", BlockPermissions.ConsistentRead);
            foreach (long offset in new[] { 0L, 16L << 20, 40L << 20 })
            {
                await edge.ReadAsync(offset, new byte[4096], Ct);
            }
            var driver = (Qcow2Driver)node.Driver;
            Assert.True(driver.CachedTables.L2Tables >= 3);
            // Waits for the timer (two ticks at most), never for a duration it must beat.
            for (int i = 0; i < 100 && driver.CachedTables.L2Tables > 0; i++)
            {
                await Task.Delay(100, Ct);
            }
            Assert.Equal(0, driver.CachedTables.L2Tables);
            // The image still reads after the caches emptied.
            await edge.ReadAsync(16L << 20, new byte[4096], Ct);
        }
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(4294967296L)]
    public async Task An_out_of_range_clean_interval_is_refused_as_qsd_does(long interval)
    {
        using var dir = new TempDirectory();
        string image = dir["c.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "1M");
        var error = await Assert.ThrowsAsync<BlockException>(async () =>
        {
            var (g, _) = await OpenAsync(image, ("cache-clean-interval", interval));
            await g.DisposeAsync();
        });
        Assert.Equal("Cache clean interval too big", error.Message);
    }

    [Fact]
    public async Task A_one_pebibyte_image_opens_without_work_proportional_to_its_size()
    {
        using var dir = new TempDirectory();
        string image = dir["huge.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "1P");
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var (g, node) = await OpenAsync(image);
        await using (g)
        {
            // The 1 PiB L1 table is 16 MiB (2 Mi entries), as QEMU holds it; nothing else may scale with the disk.
            Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 64L << 20, "opening allocated more than the L1 table needs");
            Assert.Equal(1L << 50, node.Length);
            var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            long last = (1L << 50) - 65536;
            byte[] data = new byte[65536];
            data.AsSpan().Fill(0x7e);
            await edge.WriteAsync(last, data, WriteFlags.None, Ct);
            var back = new byte[65536];
            await edge.ReadAsync(last, back, Ct);
            Assert.Equal(data, back);
        }
        Assert.Contains("No errors were found", await QemuImg.RunAsync("qemu-img", "check", image), StringComparison.Ordinal);
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", $"read -P 0x7e {(1L << 50) - 65536} 64k", image);
    }
}
