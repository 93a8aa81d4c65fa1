using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>
/// The driver skips zero-filling a new cluster that lies past the end of the file as it was at
/// open ("fresh": it reads as zeroes). A host cluster that held data and was freed is not fresh,
/// however high it lies, or a partial write there would show its old bytes to the guest.
/// Regression: the "fresh" mark only advanced over clusters adjacent to it, so once a refcount
/// block was placed past a data run every later cluster stayed "fresh" for good; a freed and
/// reused one then kept its old data around a partial write (the guest read 0xaa, not zeroes).
/// </summary>
public sealed class FreshClusterTrackingTests
{
    private const int ClusterSize = 4096;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Partial_write_into_a_reused_freed_cluster_reads_zeroes_around_it()
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        // 64-bit refcounts in 4 KiB clusters: a refcount block covers 512 clusters, so the first
        // write creates a refcount block right after the data it counts.
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", $"cluster_size={ClusterSize},refcount_bits=64", image, "16M");
        await using var graph = new TestGraph();
        graph.Graph.RegisterDriver(new Qcow2DriverFactory());
        // Unmap frees clusters, but they are not discarded in the file: their old bytes stay there.
        await graph.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(image)), ("discard", "unmap"), ("pass-discard-request", false)), Ct);
        var edge = graph.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);

        var old = new byte[600 * ClusterSize];
        old.AsSpan().Fill(0xaa);
        await edge.WriteAsync(0, old, WriteFlags.None, Ct);
        await edge.FlushAsync(Ct);
        await edge.WriteAsync(600 * ClusterSize, old.AsMemory(0, 100 * ClusterSize), WriteFlags.None, Ct);
        await edge.FlushAsync(Ct);
        // Free the host clusters of the second write (applied at the flush), then reuse one.
        await edge.WriteZeroesAsync(600 * ClusterSize, 100 * ClusterSize, WriteFlags.MayUnmap, Ct);
        await edge.FlushAsync(Ct);
        await edge.WriteAsync(1500 * ClusterSize + 100, new byte[] { 0x11 }, WriteFlags.None, Ct);

        var cluster = new byte[ClusterSize];
        await edge.ReadAsync(1500 * ClusterSize, cluster, Ct);
        var expected = new byte[ClusterSize];
        expected[100] = 0x11;
        Assert.Equal(expected, cluster);
    }
}
