using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>Freed clusters passed down as discards (discard=unmap) to the image file.</summary>
public sealed class DiscardPassThroughTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>
    /// Regression (found by the crash tests): with extended L2, QEMU writes only the subclusters
    /// a request needs, so the file can end inside its last cluster. Freeing that cluster sent a
    /// whole-cluster discard past the end of the file, which the file node refused, failing the flush.
    /// </summary>
    [Fact]
    public async Task Freeing_the_last_cluster_of_a_file_that_ends_mid_cluster_flushes()
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=65536,extended_l2=on", image, "4M");
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -q -P 0x55 1M 2048", image);
        Assert.NotEqual(0, new FileInfo(image).Length % 65536);

        await using (var graph = new TestGraph())
        {
            graph.Graph.RegisterDriver(new Qcow2DriverFactory());
            await graph.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(image)), ("discard", "unmap")), Ct);
            var edge = graph.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            await edge.WriteZeroesAsync(1 << 20, 65536, WriteFlags.MayUnmap, Ct);
            await edge.FlushAsync(Ct);
        }

        string check = await QemuImg.RunAsync("qemu-img", "check", "-f", "qcow2", image);
        Assert.Contains("No errors were found", check, StringComparison.Ordinal);
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "read -q -P 0 1M 65536", image);
    }
}
