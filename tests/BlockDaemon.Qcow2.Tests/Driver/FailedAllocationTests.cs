using BlockDaemon.Core.Drivers.Blkdebug;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Options;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>
/// A write that allocates clusters and then fails writing the data (blkdebug under the image)
/// must give its clusters back: nothing maps them, so keeping their references leaks them.
/// Regression: a mirror whose target got write errors left every cluster of each failed request
/// leaked ('qemu-img check': "Leaked cluster N refcount=1 reference=0").
/// </summary>
public sealed class FailedAllocationTests
{
    private const int ClusterSize = 65536;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string, long, int, bool> FailingWrites => new()
    {
        // Whole clusters, written straight from the request.
        { "write_aio", 2 * ClusterSize, 4 * ClusterSize, false },
        // Part of one cluster over a hole with no backing file: fresh, so written straight too.
        { "write_aio", 6 * ClusterSize + 512, 4096, false },
        // An owned cluster (overwritten in place, and that fails) plus a new one.
        { "write_aio", ClusterSize - 4096, 8192, false },
        // Part of a cluster over backing data: copy on write fills the new cluster.
        { "cow_write", 3 * ClusterSize + 512, 4096, true },
    };

    [Theory]
    [MemberData(nameof(FailingWrites))]
    public async Task A_failed_allocating_write_leaks_nothing_and_loses_no_acknowledged_data(string failingEvent, long offset, int length, bool backing)
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        byte old = backing ? (byte)0x44 : (byte)0;
        if (backing)
        {
            await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", $"cluster_size={ClusterSize}", dir["base.qcow2"], "4M");
            await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x44 0 4M", dir["base.qcow2"]);
            await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", $"cluster_size={ClusterSize}",
                "-b", dir["base.qcow2"], "-F", "qcow2", image);
        }
        else
        {
            await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", $"cluster_size={ClusterSize}", image, "4M");
        }
        // Acknowledged before: [0, 64K - 4K) holds 0x11.
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", $"write -P 0x11 0 {ClusterSize - 4096}", image);

        await using (var graph = new TestGraph())
        {
            graph.Graph.RegisterDriver(new Qcow2DriverFactory());
            graph.Graph.RegisterDriver(new BlkdebugDriverFactory());
            var rule = Opt.Dict(("event", failingEvent), ("once", true));
            await graph.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.Node("blkdebug", null,
                ("inject-error", new OptionList([rule])), ("image", Opt.File(image))))), Ct);
            var edge = graph.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);

            var doomed = new byte[length];
            doomed.AsSpan().Fill(0x22);
            await Assert.ThrowsAsync<BlockException>(async () => await edge.WriteAsync(offset, doomed, WriteFlags.None, Ct));

            // The image stays usable: a partial write that may land in a cluster given back
            // reads zeroes around it (the failed bytes there are not shown).
            await edge.WriteAsync(12 * ClusterSize + 100, new byte[] { 0x33 }, WriteFlags.None, Ct);
            await edge.FlushAsync(Ct);
            var cluster = new byte[ClusterSize];
            await edge.ReadAsync(12 * ClusterSize, cluster, Ct);
            var expected = new byte[ClusterSize];
            expected.AsSpan().Fill(old);
            expected[100] = 0x33;
            Assert.Equal(expected, cluster);
        }

        string check = await QemuImg.RunAsync("qemu-img", "check", "-f", "qcow2", image);
        Assert.Contains("No errors were found on the image.", check);
        Assert.DoesNotContain("leaked", check, StringComparison.OrdinalIgnoreCase);
        // The acknowledged bytes are intact; the failed write changed nothing the guest sees.
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", $"read -P 0x11 0 {ClusterSize - 4096}", image);
        string unchanged = offset < ClusterSize - 4096
            ? $"read -P {old} {ClusterSize - 4096} {offset + length - (ClusterSize - 4096)}"
            : $"read -P {old} {offset} {length}";
        string io = await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", unchanged, image);
        Assert.DoesNotContain("Pattern verification failed", io);
    }
}
