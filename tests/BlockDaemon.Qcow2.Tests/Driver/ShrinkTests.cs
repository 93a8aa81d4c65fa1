using System.Text.Json;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>
/// Shrinking qcow2 images through our driver, checked with qemu-img/qemu-io: data before the
/// new end survives, clusters past it are freed (qemu-img check finds no leaks), the image file
/// loses its unused tail, snapshots keep their data, and growing again reads zeroes.
/// </summary>
public sealed class ShrinkTests
{
    private const int Mi = 1 << 20;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(TestGraph Graph, BlockChild Edge)> OpenAsync(string path)
    {
        var g = new TestGraph();
        g.Graph.RegisterDriver(new Qcow2DriverFactory());
        await g.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(path))), Ct);
        var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.Resize);
        return (g, edge);
    }

    private static async Task<JsonElement> CheckAsync(string image)
    {
        // Exit status 0: neither corruptions nor leaked clusters.
        string json = await QemuImg.RunAsync("qemu-img", "check", "--output=json", image);
        return JsonDocument.Parse(json).RootElement.Clone();
    }

    private static async Task<byte[]> ReadAsync(BlockChild edge, long offset, int length)
    {
        var buffer = new byte[length];
        await edge.ReadAsync(offset, buffer, Ct);
        return buffer;
    }

    [Theory]
    [InlineData(4096, 3 * Mi + 1536)]
    [InlineData(512, 3 * Mi + 1536)]
    [InlineData(65536, 1536)]
    [InlineData(4096, 0)]
    public async Task Data_before_the_new_end_survives_and_the_rest_is_freed(int clusterSize, long newSize)
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", $"cluster_size={clusterSize}", image, "8M");
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 8M", image);
        long before = new FileInfo(image).Length;
        var (g, edge) = await OpenAsync(image);
        await using (g)
        {
            await edge.TruncateAsync(newSize, Ct);
            Assert.Equal(newSize, edge.Length);
            Assert.All(await ReadAsync(edge, 0, (int)newSize), b => Assert.Equal(0x11, b));
        }
        var check = await CheckAsync(image);
        long keptClusters = (newSize + clusterSize - 1) / clusterSize;
        long allocated = check.TryGetProperty("allocated-clusters", out var value) ? value.GetInt64() : 0;
        Assert.Equal(keptClusters, allocated);
        Assert.True(new FileInfo(image).Length < before, "the image file kept its unused tail");
        Assert.Contains($"({newSize} bytes)", await QemuImg.RunAsync("qemu-img", "info", image), StringComparison.Ordinal);
        if (newSize > 0)
        {
            await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", $"read -P 0x11 0 {newSize}", image);
        }
    }

    [Fact]
    public async Task Growing_after_a_shrink_reads_zeroes_past_the_old_end()
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", image, "8M");
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 8M", image);
        long shrunk = Mi + 512;
        var (g, edge) = await OpenAsync(image);
        await using (g)
        {
            await edge.TruncateAsync(shrunk, Ct);
            await edge.TruncateAsync(8 * Mi, Ct);
            Assert.All(await ReadAsync(edge, 0, (int)shrunk), b => Assert.Equal(0x11, b));
            Assert.All(await ReadAsync(edge, shrunk, (int)(8 * Mi - shrunk)), b => Assert.Equal(0, b));
            // The space is usable again.
            await edge.WriteAsync(6 * Mi, new byte[] { 0x22 }, WriteFlags.None, Ct);
        }
        await CheckAsync(image);
        // The cluster holding the new end kept its bytes before the end; the rest reads as zeroes.
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", $"read -P 0x11 0 {shrunk}", "-c", $"read -P 0 {shrunk} {6 * Mi - shrunk}",
            "-c", $"read -P 0x22 {6 * Mi} 1", "-c", $"read -P 0 {6 * Mi + 1} {2 * Mi - 1}", image);
    }

    [Fact]
    public async Task A_snapshot_keeps_the_clusters_cut_from_the_active_image()
    {
        using var dir = new TempDirectory();
        string image = dir["s.qcow2"], copy = dir["snap.raw"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", image, "4M");
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x33 0 4M", image);
        await QemuImg.RunAsync("qemu-img", "snapshot", "-c", "snap", image);
        var (g, edge) = await OpenAsync(image);
        await using (g)
        {
            await edge.TruncateAsync(Mi, Ct);
        }
        await CheckAsync(image);
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", $"read -P 0x33 0 {Mi}", image);
        // A snapshot is read at the image's current size: grow it back to see all of it.
        await QemuImg.RunAsync("qemu-img", "resize", "-q", image, "4M");
        await QemuImg.RunAsync("qemu-img", "convert", "-l", "snapshot.name=snap", "-f", "qcow2", "-O", "raw", image, copy);
        var content = await File.ReadAllBytesAsync(copy, Ct);
        Assert.Equal(4 * Mi, content.Length);
        Assert.All(content, b => Assert.Equal(0x33, b));
    }

    [Fact]
    public async Task A_v2_image_with_snapshots_cannot_be_resized()
    {
        using var dir = new TempDirectory();
        string image = dir["v2.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", image, "1M");
        await QemuImg.RunAsync("qemu-img", "snapshot", "-c", "snap", image);
        var (g, edge) = await OpenAsync(image);
        await using (g)
        {
            var e = await Assert.ThrowsAsync<BlockException>(async () => await edge.TruncateAsync(2 * Mi, Ct));
            Assert.Equal("Can't resize a v2 image which has snapshots", e.Message);
            Assert.Equal(Mi, edge.Length);
        }
    }
}
