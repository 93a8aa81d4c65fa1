using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Graph;

public sealed class PermissionTests
{
    private const BlockPermissions GuestShared = ConsistentRead | WriteUnchanged;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_plain_raw_node_passes_its_users_permissions_through()
    {
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.Memory("f0"), Ct);
        var r0 = await t.AddAsync(Opt.Raw("r0", "f0"), Ct);
        t.Attach("r0", ConsistentRead | Write, GuestShared);

        var edge = r0.FindChild("file")!;
        Assert.Equal(ConsistentRead | Write, edge.Perm);
        Assert.Equal(GuestShared | GraphMod, edge.Shared);
        Assert.Equal(ConsistentRead | Write, f0.CumulativePerm);
        Assert.Equal(GuestShared | GraphMod, f0.CumulativeShared);
        Assert.Equal(ConsistentRead | Write, t.Memory["f0"].Perm);
    }

    [Fact]
    public async Task A_raw_window_never_shares_resize_and_takes_write_only_when_asked()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("f0"), Ct);
        var r1 = await t.AddAsync(Opt.Raw("r1", "f0", ("offset", 4096), ("size", 65536)), Ct);
        var edge = r1.FindChild("file")!;
        Assert.Equal(None, edge.Perm);
        Assert.Equal(All & ~Resize, edge.Shared);

        t.Attach("r1", ConsistentRead | WriteUnchanged);
        // QEMU's raw_child_perm drops the WRITE and RESIZE that a data child would add.
        Assert.Equal(ConsistentRead | WriteUnchanged, edge.Perm);
        Assert.Equal(All & ~Resize, edge.Shared);
    }

    [Fact]
    public async Task Resize_needed_through_one_raw_node_conflicts_with_a_window_on_the_same_file()
    {
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.Memory("f0"), Ct);
        var r0 = await t.AddAsync(Opt.Raw("r0", "f0"), Ct);
        await t.AddAsync(Opt.Raw("r2", "f0", ("offset", 512)), Ct);
        var before = (f0.CumulativePerm, f0.CumulativeShared);

        BlockAssert.Throws(() => t.Graph.AttachUser(null, r0, Resize, All), BlockErrorKind.PermissionConflict,
            "Permission conflict on node 'f0': permissions 'resize' are both required by node 'r0' (uses node 'f0' as 'file' child) " +
            "and unshared by node 'r2' (uses node 'f0' as 'file' child).");

        // Nothing of the failed attach is left.
        Assert.Empty(r0.Parents);
        Assert.Empty(t.Graph.Users);
        Assert.Equal(None, r0.FindChild("file")!.Perm);
        Assert.Equal(before, (f0.CumulativePerm, f0.CumulativeShared));
    }

    [Fact]
    public async Task Adding_a_window_under_a_resizing_user_fails_and_leaves_the_graph_unchanged()
    {
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.Memory("f0"), Ct);
        t.Attach("f0", ConsistentRead | Resize, All, "drive0");
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Raw("r1", "f0", ("size", 4096)), Ct), BlockErrorKind.PermissionConflict,
            "Permission conflict on node 'f0': permissions 'resize' are both required by block device 'drive0' (uses node 'f0' as 'root' child) " +
            "and unshared by node 'r1' (uses node 'f0' as 'file' child).");
        Assert.Equal(["f0"], t.NodeNames);
        Assert.Single(f0.Parents);
        Assert.Equal(ConsistentRead | Resize, f0.CumulativePerm);
    }

    [Fact]
    public async Task Anonymous_users_are_described_as_qsd_describes_them()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("f0"), Ct);
        await t.AddAsync(Opt.Raw("r1", "f0", ("offset", 512), ("size", 1024)), Ct);
        BlockAssert.Throws(() => t.Attach("f0", Resize), BlockErrorKind.PermissionConflict,
            "Permission conflict on node 'f0': permissions 'resize' are both required by an unnamed block device (uses node 'f0' as 'root' child) " +
            "and unshared by node 'r1' (uses node 'f0' as 'file' child).");
    }

    [Fact]
    public async Task Detaching_a_user_drops_its_permissions_and_lets_a_conflicting_user_in()
    {
        await using var t = new TestGraph();
        var m0 = await t.AddAsync(Opt.Memory("m0"), Ct);
        var writer = t.Graph.AttachUser("w", m0, ConsistentRead | Write, All);
        Assert.Same(writer, Assert.Single(t.Graph.Users));
        Assert.Same(writer.Root, Assert.Single(m0.Parents));

        BlockAssert.Throws(() => t.Graph.AttachUser("r", m0, ConsistentRead, ConsistentRead), BlockErrorKind.PermissionConflict,
            "Permission conflict on node 'm0': permissions 'write' are both required by block device 'w' (uses node 'm0' as 'root' child) " +
            "and unshared by block device 'r' (uses node 'm0' as 'root' child).");

        t.Graph.DetachUser(writer);
        Assert.Null(writer.Root);
        Assert.Empty(m0.Parents);
        Assert.Equal(None, m0.CumulativePerm);
        Assert.Equal(None, t.Memory["m0"].Perm);
        t.Graph.DetachUser(writer); // a second detach is harmless

        var reader = t.Graph.AttachUser("r", m0, ConsistentRead, ConsistentRead);
        Assert.Equal(ConsistentRead, m0.CumulativeShared);
        Assert.Same(reader, Assert.Single(t.Graph.Users));
    }

    [Fact]
    public async Task Permissions_propagate_through_a_chain_of_raw_nodes()
    {
        await using var t = new TestGraph();
        var m0 = await t.AddAsync(Opt.Memory("m0"), Ct);
        await t.AddAsync(Opt.Raw("r0", "m0"), Ct);
        await t.AddAsync(Opt.Raw("r1", "r0"), Ct);
        var user = t.Graph.AttachUser(null, t.Graph.GetNode("r1"), ConsistentRead | Write | Resize, ConsistentRead);
        Assert.Equal(ConsistentRead | Write | Resize, m0.CumulativePerm);
        Assert.Equal(ConsistentRead | GraphMod, m0.CumulativeShared);
        t.Graph.DetachUser(user);
        Assert.Equal(None, m0.CumulativePerm);
        Assert.Equal(All, m0.CumulativeShared);
    }
}
