using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

public sealed class Qcow2DriverTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<TestGraph> OpenAsync(string path, bool readOnly = false)
    {
        var g = new TestGraph();
        g.Graph.RegisterDriver(new Qcow2DriverFactory());
        await g.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(path)), ("read-only", readOnly)), Ct);
        return g;
    }

    [Theory]
    [InlineData("compat=1.1,cluster_size=65536")]
    [InlineData("compat=0.10,cluster_size=4096")]
    [InlineData("compat=1.1,cluster_size=512,refcount_bits=1")]
    [InlineData("compat=1.1,cluster_size=2097152,refcount_bits=64")]
    [InlineData("compat=1.1,cluster_size=65536,extended_l2=on")]
    public async Task Writes_read_back_in_qemu_and_pass_check(string createOptions)
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        string reference = dir["a.raw"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", createOptions, image, "8M");
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "raw", reference, "8M");
        var rng = new Random(42);
        await using (var g = await OpenAsync(image))
        {
            var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            await using var raw = File.Open(reference, FileMode.Open, FileAccess.ReadWrite);
            for (int i = 0; i < 200; i++)
            {
                long offset = rng.NextInt64(0, 8 << 20);
                int length = (int)Math.Min(rng.Next(1, 200_000), (8 << 20) - offset);
                var data = new byte[length];
                rng.NextBytes(data);
                if (i % 10 == 9)
                {
                    await edge.WriteZeroesAsync(offset, length, WriteFlags.MayUnmap, Ct);
                    Array.Clear(data);
                }
                else
                {
                    await edge.WriteAsync(offset, data, WriteFlags.None, Ct);
                }
                raw.Position = offset;
                await raw.WriteAsync(data, Ct);
                if (i % 50 == 0)
                {
                    await edge.FlushAsync(Ct);
                }
            }
            // Our own reads agree before the image is closed.
            var all = new byte[8 << 20];
            await edge.ReadAsync(0, all, Ct);
            var expected = new byte[8 << 20];
            raw.Position = 0;
            await raw.ReadExactlyAsync(expected, Ct);
            Assert.True(all.AsSpan().SequenceEqual(expected), "our read-back differs from the reference");
        }
        await QemuImg.RunAsync("qemu-img", "check", image);
        await QemuImg.RunAsync("qemu-img", "compare", "-f", "qcow2", "-F", "raw", image, reference);
    }

    [Fact]
    public async Task A_backing_chain_from_the_header_reads_through_and_copies_on_write()
    {
        using var dir = new TempDirectory();
        string base0 = dir["base.qcow2"], top = dir["top.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", base0, "4M");
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 4M", base0);
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top);
        await using (var g = await OpenAsync(top))
        {
            var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            await edge.WriteAsync(1000, new byte[] { 0x22, 0x22, 0x22 }, WriteFlags.None, Ct);
            var buffer = new byte[4096];
            await edge.ReadAsync(0, buffer, Ct);
            Assert.Equal(0x11, buffer[999]);
            Assert.Equal(0x22, buffer[1000]);
            Assert.Equal(0x11, buffer[1003]);
        }
        await QemuImg.RunAsync("qemu-img", "check", top);
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "read -P 0x11 0 1000", "-c", "read -P 0x22 1000 3", "-c", "read -P 0x11 1003 65533", top);
    }

    [Fact]
    public async Task Growing_past_the_l1_table_keeps_data_and_passes_check()
    {
        using var dir = new TempDirectory();
        string image = dir["grow.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512", image, "1M");
        await using (var g = await OpenAsync(image))
        {
            var edge = g.Graph.AttachUser(null, g.Graph.GetNode("q"), BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.Resize, BlockPermissions.All).Root!;
            await edge.WriteAsync(0, new byte[] { 1, 2, 3 }, WriteFlags.None, Ct);
            await edge.TruncateAsync(64 << 20, Ct);
            await edge.WriteAsync((64 << 20) - 3, new byte[] { 4, 5, 6 }, WriteFlags.None, Ct);
        }
        await QemuImg.RunAsync("qemu-img", "check", image);
        string info = await QemuImg.RunAsync("qemu-img", "info", image);
        Assert.Contains("virtual size: 64 MiB", info, StringComparison.Ordinal);
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "read -P 4 67108861 1", "-c", "read -P 1 0 1", image);
    }
}
