using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>
/// Internal snapshots taken and deleted by our driver, judged by qemu-img: `check` must be
/// clean (no leaks, no COPIED flag errors), `snapshot -l` must list them, and each snapshot's
/// content (read with `convert -l snapshot.name=`) must be the disk as it was when taken.
/// </summary>
public sealed class SnapshotTests
{
    private const int Size = 4 << 20;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Opened : IAsyncDisposable
    {
        public required TestGraph Graph { get; init; }
        public required BlockChild Edge { get; init; }
        public IInternalSnapshots Snapshots => (IInternalSnapshots)Graph.Graph.GetNode("q").Driver;
        public ValueTask DisposeAsync() => Graph.DisposeAsync();
    }

    private static async Task<Opened> OpenAsync(string path)
    {
        var g = new TestGraph();
        g.Graph.RegisterDriver(new Qcow2DriverFactory());
        await g.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(path))), Ct);
        return new Opened { Graph = g, Edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write) };
    }

    private static NewSnapshot Named(string name) => NewSnapshot.Now(name, TimeProvider.System);

    private static async Task<byte[]> SnapshotContentAsync(string image, string name)
    {
        string raw = image + "." + name + ".raw";
        await QemuImg.RunAsync("qemu-img", "convert", "-l", "snapshot.name=" + name, "-O", "raw", image, raw);
        try
        {
            return await File.ReadAllBytesAsync(raw, Ct);
        }
        finally
        {
            File.Delete(raw);
        }
    }

    private static async Task<byte[]> ActiveContentAsync(string image)
    {
        string raw = image + ".active.raw";
        await QemuImg.RunAsync("qemu-img", "convert", "-O", "raw", image, raw);
        try
        {
            return await File.ReadAllBytesAsync(raw, Ct);
        }
        finally
        {
            File.Delete(raw);
        }
    }

    private static Task CheckCleanAsync(string image) => QemuImg.RunAsync("qemu-img", "check", image);

    private static void AssertSame(byte[] expected, byte[] actual, string what) =>
        Assert.True(expected.AsSpan().SequenceEqual(actual), $"{what} differs from what it should be");

    // Writes of every kind the write path has: partial and whole clusters, zeroes, discards.
    private static async Task ScribbleAsync(BlockChild edge, byte[] model, int seed)
    {
        var rng = new Random(seed);
        for (int i = 0; i < 60; i++)
        {
            long offset = rng.NextInt64(0, Size);
            int length = (int)Math.Min(rng.Next(1, 300_000), Size - offset);
            if (i % 7 == 6)
            {
                await edge.WriteZeroesAsync(offset, length, i % 2 == 0 ? WriteFlags.MayUnmap : WriteFlags.None, Ct);
                Array.Clear(model, (int)offset, length);
                continue;
            }
            var data = new byte[length];
            rng.NextBytes(data);
            await edge.WriteAsync(offset, data, WriteFlags.None, Ct);
            data.CopyTo(model, offset);
        }
    }

    // Compressed clusters are left out where several share a host cluster and a narrow refcount
    // could not count them plus the snapshots (QEMU refuses such a snapshot too, see below).
    [Theory]
    [InlineData("compat=1.1,cluster_size=65536", "256k")]
    [InlineData("compat=0.10,cluster_size=4096", "256k")]
    [InlineData("compat=1.1,cluster_size=512,refcount_bits=2", null)]
    [InlineData("compat=1.1,cluster_size=4096,refcount_bits=4", null)]
    [InlineData("compat=1.1,cluster_size=65536,refcount_bits=8", "256k")]
    [InlineData("compat=1.1,cluster_size=65536,refcount_bits=32", "256k")]
    [InlineData("compat=1.1,cluster_size=2097152,refcount_bits=64", "2M")]
    [InlineData("compat=1.1,cluster_size=65536,extended_l2=on", "256k")]
    public async Task Writes_after_a_snapshot_leave_its_view_unchanged(string createOptions, string? compressedLength)
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", createOptions, image, Size.ToString());
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", image);
        if (compressedLength is not null)
        {
            await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", $"write -c -P 0x6b 2M {compressedLength}", image);
        }
        var model = await ActiveContentAsync(image);
        var atFirst = model.ToArray();
        byte[] atSecond;
        await using (var q = await OpenAsync(image))
        {
            var first = await q.Snapshots.CreateSnapshotAsync(Named("first"), Ct);
            Assert.Equal("1", first.Id);
            await ScribbleAsync(q.Edge, model, 1);
            atSecond = model.ToArray();
            var second = await q.Snapshots.CreateSnapshotAsync(Named("second"), Ct);
            Assert.Equal("2", second.Id);
            await ScribbleAsync(q.Edge, model, 2);
            var back = new byte[Size];
            await q.Edge.ReadAsync(0, back, Ct);
            AssertSame(model, back, "our read of the active disk");
            Assert.Equal(["first", "second"], q.Snapshots.ListSnapshots().Select(s => s.Name));
        }
        await CheckCleanAsync(image);
        string list = await QemuImg.RunAsync("qemu-img", "snapshot", "-l", image);
        Assert.Contains("first", list, StringComparison.Ordinal);
        Assert.Contains("second", list, StringComparison.Ordinal);
        AssertSame(atFirst, await SnapshotContentAsync(image, "first"), "snapshot 'first'");
        AssertSame(atSecond, await SnapshotContentAsync(image, "second"), "snapshot 'second'");
        AssertSame(model, await ActiveContentAsync(image), "the active disk");
    }

    [Theory]
    [InlineData("compat=1.1,cluster_size=65536")]
    [InlineData("compat=0.10,cluster_size=4096")]
    [InlineData("compat=1.1,cluster_size=65536,extended_l2=on")]
    public async Task Deleting_snapshots_frees_their_clusters_and_restores_in_place_writes(string createOptions)
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", createOptions, image, Size.ToString());
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 2M", "-c", "write -c -P 0x6b 3M 256k", image);
        var model = await ActiveContentAsync(image);
        var atSnapshot = model.ToArray();
        await using (var q = await OpenAsync(image))
        {
            await q.Snapshots.CreateSnapshotAsync(Named("s"), Ct);
            await ScribbleAsync(q.Edge, model, 3);
        }
        await CheckCleanAsync(image);
        AssertSame(atSnapshot, await SnapshotContentAsync(image, "s"), "snapshot 's'");

        await using (var q = await OpenAsync(image))
        {
            var deleted = await q.Snapshots.DeleteSnapshotAsync(new SnapshotSelector(null, "s"), Ct);
            Assert.Equal(("1", "s"), (deleted.Id, deleted.Name));
            Assert.Empty(q.Snapshots.ListSnapshots());
        }
        // No leak and every COPIED flag right (qemu-img check fails on either).
        await CheckCleanAsync(image);
        AssertSame(model, await ActiveContentAsync(image), "the active disk");

        // With the snapshot gone, overwriting allocated data needs no new cluster.
        long before = new FileInfo(image).Length;
        await using (var q = await OpenAsync(image))
        {
            var data = new byte[1 << 20];
            new Random(4).NextBytes(data);
            await q.Edge.WriteAsync(0, data, WriteFlags.None, Ct);
            data.CopyTo(model, 0);
        }
        Assert.Equal(before, new FileInfo(image).Length);
        await CheckCleanAsync(image);
        AssertSame(model, await ActiveContentAsync(image), "the active disk");
    }

    [Fact]
    public async Task Snapshots_of_qemu_img_and_ours_delete_each_other()
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, Size.ToString());
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 1M", image);
        await QemuImg.RunAsync("qemu-img", "snapshot", "-c", "theirs", image);
        var atTheirs = await ActiveContentAsync(image);
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x22 512k 1M", image);
        var atOurs = await ActiveContentAsync(image);
        await using (var q = await OpenAsync(image))
        {
            var ours = await q.Snapshots.CreateSnapshotAsync(Named("ours"), Ct);
            Assert.Equal("2", ours.Id);
            await q.Edge.WriteAsync(0, new byte[3 << 20], WriteFlags.None, Ct);
        }
        await CheckCleanAsync(image);
        AssertSame(atTheirs, await SnapshotContentAsync(image, "theirs"), "qemu-img's snapshot");
        AssertSame(atOurs, await SnapshotContentAsync(image, "ours"), "our snapshot");

        await QemuImg.RunAsync("qemu-img", "snapshot", "-d", "ours", image);
        await CheckCleanAsync(image);
        await using (var q = await OpenAsync(image))
        {
            await q.Snapshots.DeleteSnapshotAsync(new SnapshotSelector("1", "theirs"), Ct);
        }
        await CheckCleanAsync(image);
        Assert.DoesNotContain("theirs", await QemuImg.RunAsync("qemu-img", "snapshot", "-l", image), StringComparison.Ordinal);
        Assert.True((await ActiveContentAsync(image)).AsSpan(0, 3 << 20).IndexOfAnyExcept((byte)0) < 0, "the active disk keeps our zeroes");
    }

    [Fact]
    public async Task New_ids_follow_the_largest_one_and_lookups_match_qemu()
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "1M");
        foreach (string name in new[] { "a", "b", "c" })
        {
            await QemuImg.RunAsync("qemu-img", "snapshot", "-c", name, image);
        }
        await using (var q = await OpenAsync(image))
        {
            // id and name must both match when both are given.
            var missing = await Assert.ThrowsAsync<BlockException>(() => q.Snapshots.DeleteSnapshotAsync(new SnapshotSelector("1", "b"), Ct).AsTask());
            Assert.Equal("Can't find the snapshot", missing.Message);
            await q.Snapshots.DeleteSnapshotAsync(new SnapshotSelector("2", null), Ct);
            // Gaps are not reused: the next id is one more than the largest.
            Assert.Equal("4", (await q.Snapshots.CreateSnapshotAsync(Named("d"), Ct)).Id);
            await q.Snapshots.DeleteSnapshotAsync(new SnapshotSelector(null, "d"), Ct);
            Assert.Equal("4", (await q.Snapshots.CreateSnapshotAsync(Named("e"), Ct)).Id);
            Assert.Equal([("1", "a"), ("3", "c"), ("4", "e")], q.Snapshots.ListSnapshots().Select(s => (s.Id, s.Name)));
        }
        await CheckCleanAsync(image);
        string list = await QemuImg.RunAsync("qemu-img", "snapshot", "-l", image);
        Assert.Matches(@"(?m)^4\s+e\s", list);
        Assert.DoesNotMatch(@"(?m)^2\s+b\s", list);
    }

    [Fact]
    public async Task One_bit_refcounts_refuse_a_snapshot_of_allocated_data_without_leaking()
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "refcount_bits=1", image, "1M");
        await using (var q = await OpenAsync(image))
        {
            // Nothing allocated yet: nothing needs a second reference, as in QEMU.
            await q.Snapshots.CreateSnapshotAsync(Named("empty"), Ct);
            await q.Edge.WriteAsync(0, new byte[65536].Select(_ => (byte)7).ToArray(), WriteFlags.None, Ct);
            var refused = await Assert.ThrowsAsync<BlockException>(() => q.Snapshots.CreateSnapshotAsync(Named("full"), Ct).AsTask());
            Assert.Equal(Errno.EInval, refused.Errno);
            Assert.Equal(["empty"], q.Snapshots.ListSnapshots().Select(s => s.Name));
            // The refused snapshot changed nothing: writes still go in place.
            await q.Edge.WriteAsync(0, new byte[65536], WriteFlags.None, Ct);
        }
        await CheckCleanAsync(image);
        Assert.True((await SnapshotContentAsync(image, "empty")).AsSpan().IndexOfAnyExcept((byte)0) < 0, "the empty snapshot reads as zeroes");
    }

    [Fact]
    public async Task Two_bit_refcounts_hold_two_snapshots_of_allocated_data_and_refuse_a_third()
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", "refcount_bits=2", image, "1M");
        await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 128k", image);
        await using (var q = await OpenAsync(image))
        {
            await q.Snapshots.CreateSnapshotAsync(Named("one"), Ct);
            await q.Snapshots.CreateSnapshotAsync(Named("two"), Ct);
            var refused = await Assert.ThrowsAsync<BlockException>(() => q.Snapshots.CreateSnapshotAsync(Named("three"), Ct).AsTask());
            Assert.Equal(Errno.EInval, refused.Errno);
            // Once the shared cluster is copied on write, the active L2 table no longer holds it.
            await q.Edge.WriteAsync(0, new byte[128 << 10], WriteFlags.None, Ct);
        }
        await CheckCleanAsync(image);
        Assert.Equal(2, (await SnapshotContentAsync(image, "two")).AsSpan(0, 128 << 10).Count((byte)0x11) / 65536);
    }

    [Fact]
    public async Task A_read_only_image_refuses_deletion_and_keeps_its_snapshot()
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "1M");
        await QemuImg.RunAsync("qemu-img", "snapshot", "-c", "kept", image);
        var g = new TestGraph();
        await using (g)
        {
            g.Graph.RegisterDriver(new Qcow2DriverFactory());
            await g.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(image)), ("read-only", true)), Ct);
            var snapshots = (IInternalSnapshots)g.Graph.GetNode("q").Driver;
            var refused = await Assert.ThrowsAsync<BlockException>(() => snapshots.DeleteSnapshotAsync(new SnapshotSelector(null, "kept"), Ct).AsTask());
            Assert.Equal("Failed to remove snapshot from snapshot list: Operation not permitted", refused.Message);
            Assert.Single(snapshots.ListSnapshots());
        }
        Assert.Contains("kept", await QemuImg.RunAsync("qemu-img", "snapshot", "-l", image), StringComparison.Ordinal);
    }
}
