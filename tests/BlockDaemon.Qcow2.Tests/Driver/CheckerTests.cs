using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Check;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

public sealed class CheckerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<Qcow2CheckResult> CheckAsync(string image, bool repair)
    {
        await using var g = new TestGraph();
        await g.AddAsync(Opt.File(image, "f", ("read-only", !repair)), Ct);
        var perm = BlockPermissions.ConsistentRead | (repair ? BlockPermissions.Write | BlockPermissions.Resize : BlockPermissions.None);
        var edge = g.Graph.AttachUser(null, g.Graph.GetNode("f"), perm, BlockPermissions.All).Root!;
        return await Qcow2Checker.CheckAsync(edge, repair, Ct);
    }

    private static async Task PokeAsync(string image, long offset, params byte[] bytes)
    {
        await using var f = File.Open(image, FileMode.Open, FileAccess.ReadWrite);
        f.Position = offset;
        await f.WriteAsync(bytes, Ct);
    }

    [Fact]
    public async Task A_qemu_written_image_with_snapshots_and_compressed_clusters_is_clean()
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"], packed = dir["c.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "16M");
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 3M", image);
        await QemuImg.RunAsync("qemu-img", "snapshot", "-c", "s1", image);
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 2 1M 3M", image);
        await QemuImg.RunAsync("qemu-img", "convert", "-c", "-O", "qcow2", image, packed);
        foreach (string path in new[] { image, packed })
        {
            var result = await CheckAsync(path, repair: false);
            Assert.True(result.IsClean, string.Join('\n', result.Messages));
            Assert.True(result.AllocatedClusters > 0);
        }
    }

    [Fact]
    public async Task A_leak_and_a_missing_reference_are_found_and_repaired()
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "16M");
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 1M", image);
        // Refcount block at cluster 2 (16-bit entries): cluster 1000 leaks; cluster 4 (the first L2/data) loses its count.
        await PokeAsync(image, 2 * 65536 + 1000 * 2, 0, 1);
        await PokeAsync(image, 2 * 65536 + 4 * 2, 0, 0);
        await QemuImg.RunAsync("truncate", "-s", $"{1001 * 65536}", image);

        var found = await CheckAsync(image, repair: false);
        // As qemu-img check counts them: cluster 4's missing reference, and the L1 entry's
        // COPIED flag that no longer matches its refcount; one leak.
        string report = string.Join('\n', found.Messages);
        Assert.True(found.Leaks == 1, report);
        Assert.True(found.Corruptions == 2, report);
        Assert.Contains("Leaked cluster 1000 refcount=1 reference=0", found.Messages);

        var repaired = await CheckAsync(image, repair: true);
        Assert.Equal(1, repaired.LeaksFixed);
        Assert.Equal(2, repaired.CorruptionsFixed);
        await QemuImg.RunAsync("qemu-img", "check", image);
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "read -P 1 0 1M", image);
    }

    [Fact]
    public async Task A_dirty_lazy_refcount_image_is_repaired_before_the_first_write()
    {
        using var dir = new TempDirectory();
        string image = dir["lazy.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", image, "16M");
        // qemu-io dies with the dirty bit set and refcounts never written.
        var crash = SpawnGate.Start(new System.Diagnostics.ProcessStartInfo("qemu-io", ["-f", "qcow2", "-c", "write -P 7 0 2M", "-c", "abort", image]));
        await crash.WaitForExitAsync(Ct);
        string info = await QemuImg.RunAsync("qemu-img", "info", "--output=json", image);
        Assert.Contains("\"dirty-flag\": true", info, StringComparison.Ordinal);

        await using (var g = new TestGraph())
        {
            g.Graph.RegisterDriver(new Qcow2DriverFactory());
            await g.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(image))), Ct);
            var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            await edge.WriteAsync(4 << 20, new byte[65536], WriteFlags.None, Ct);
        }
        await QemuImg.RunAsync("qemu-img", "check", image);
        Assert.Contains("\"dirty-flag\": false", await QemuImg.RunAsync("qemu-img", "info", "--output=json", image), StringComparison.Ordinal);
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "read -P 7 0 2M", image);
    }
}
