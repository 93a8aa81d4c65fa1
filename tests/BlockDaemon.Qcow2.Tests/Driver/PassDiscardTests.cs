using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>
/// pass-discard-snapshot decides whether clusters freed by a snapshot deletion leave the file's
/// allocation (the file must accept discards at all: discard=unmap, inherited from the qcow2 node).
/// </summary>
public sealed class PassDiscardTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Clusters_freed_by_deleting_a_snapshot_are_discarded_only_when_asked(bool passSnapshot)
    {
        using var dir = new TempDirectory();
        string image = dir["p.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "16M");
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 8M", image);
        await QemuImg.RunAsync("qemu-img", "snapshot", "-c", "old", image);
        long beforeDelete;
        await using (var g = new TestGraph())
        {
            g.Graph.RegisterDriver(new Qcow2DriverFactory());
            var node = await g.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(image)), ("pass-discard-snapshot", passSnapshot), ("discard", "unmap")), Ct);
            var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            // Copy on write: the snapshot alone keeps the first 8 MiB of clusters.
            var data = new byte[8 << 20];
            data.AsSpan().Fill(2);
            await edge.WriteAsync(0, data, WriteFlags.None, Ct);
            await edge.FlushAsync(Ct);
            beforeDelete = await AllocatedAsync(image);
            var snapshots = (IInternalSnapshots)node.Driver;
            await snapshots.DeleteSnapshotAsync(new SnapshotSelector(null, "old"), Ct);
            await edge.FlushAsync(Ct);
        }
        long afterDelete = await AllocatedAsync(image);
        if (passSnapshot)
        {
            Assert.True(afterDelete <= beforeDelete - (7L << 20), $"{beforeDelete} -> {afterDelete}: the freed clusters stayed allocated");
        }
        else
        {
            Assert.True(afterDelete >= beforeDelete - (1L << 20), $"{beforeDelete} -> {afterDelete}: the freed clusters were discarded");
        }
        Assert.Contains("No errors", await QemuImg.RunAsync("qemu-img", "check", image), StringComparison.Ordinal);
    }

    private static async Task<long> AllocatedAsync(string path) =>
        long.Parse((await QemuImg.RunAsync("stat", "-c", "%b", path)).Trim(), System.Globalization.CultureInfo.InvariantCulture) * 512;
}
