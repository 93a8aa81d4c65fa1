using BlockDaemon.Core.Drivers.CopyBeforeWrite;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Graph;

/// <summary>
/// A filter slid above a node takes over the node's users (not a job's hold on it), gets an
/// automatic name when none is given, and leaves the graph as it was when removed or refused.
/// </summary>
public sealed class FilterInsertionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<TestGraph> GraphAsync()
    {
        var t = new TestGraph();
        t.Graph.RegisterDriver(new CopyBeforeWriteDriverFactory());
        await t.AddAsync(Opt.Memory("disk"), Ct);
        await t.AddAsync(Opt.Memory("tgt"), Ct);
        return t;
    }

    private static Core.Options.OptionDict Cbw(string? name) =>
        Opt.Node("copy-before-write", name, ("file", "disk"), ("target", "tgt"));

    [Fact]
    public async Task Users_move_to_the_filter_and_back()
    {
        await using var t = await GraphAsync();
        var disk = t.Graph.GetNode("disk");
        var export = t.Attach("disk", ConsistentRead | Write, ConsistentRead | Write | WriteUnchanged);
        var jobHold = t.Graph.AttachUser(null, disk, None, All, jobChild: true).Root!;

        var filter = await t.Graph.InsertFilterAsync(Cbw(null), disk, ct: Ct);

        Assert.StartsWith("#block", filter.NodeName, StringComparison.Ordinal);
        Assert.True(filter.ImplicitFilter);
        Assert.False(filter.MonitorOwned);
        Assert.Same(filter, export.Node);
        Assert.Same(disk, jobHold.Node);
        Assert.Equal(ConsistentRead | Write, filter.CumulativePerm);
        var file = filter.FindChild("file")!;
        Assert.Equal(ConsistentRead | Write, file.Perm);
        Assert.Equal(0, (int)(file.Shared & (Write | Resize)));
        Assert.Equal(Write, filter.FindChild("target")!.Perm);

        await t.Graph.RemoveFilterAsync(filter, Ct);

        Assert.Same(disk, export.Node);
        Assert.Null(t.Graph.FindNode(filter.NodeName));
        Assert.Equal(ConsistentRead | Write, disk.CumulativePerm);
        Assert.Equal(None, t.Graph.GetNode("tgt").CumulativePerm);
        Assert.Empty(disk.DirtyBitmaps);
    }

    [Fact]
    public async Task A_named_filter_is_not_implicit_and_a_second_filter_goes_between()
    {
        await using var t = await GraphAsync();
        await t.AddAsync(Opt.Memory("tgt2"), Ct);
        var disk = t.Graph.GetNode("disk");
        var export = t.Attach("disk", ConsistentRead | Write, ConsistentRead | Write | WriteUnchanged);
        var first = await t.Graph.InsertFilterAsync(Cbw(null), disk, ct: Ct);

        var second = await t.Graph.InsertFilterAsync(
            Opt.Node("copy-before-write", "myf", ("file", "disk"), ("target", "tgt2")), disk, ct: Ct);

        Assert.False(second.ImplicitFilter);
        Assert.Equal("myf", second.NodeName);
        Assert.Same(first, export.Node);
        Assert.Same(second, first.FindChild("file")!.Node);

        await t.Graph.RemoveFilterAsync(second, Ct);
        Assert.Same(disk, first.FindChild("file")!.Node);
    }

    [Fact]
    public async Task A_conflict_leaves_the_graph_as_it_was()
    {
        await using var t = await GraphAsync();
        var disk = t.Graph.GetNode("disk");
        var export = t.Attach("disk", ConsistentRead | Write, All);
        // A job that writes the node itself and stays at it: the filter must be its only writer.
        var writer = t.Graph.AttachUser(null, disk, Write, All, jobChild: true).Root!;
        int nodes = t.Graph.Nodes.Count;

        var e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.InsertFilterAsync(Cbw("f"), disk, ct: Ct).AsTask());

        Assert.Equal(BlockErrorKind.PermissionConflict, e.Kind);
        Assert.Equal(nodes, t.Graph.Nodes.Count);
        Assert.Null(t.Graph.FindNode("f"));
        Assert.Same(disk, export.Node);
        Assert.Same(disk, writer.Node);
        Assert.Equal(ConsistentRead | Write, disk.CumulativePerm);
        Assert.Empty(disk.DirtyBitmaps);
    }
}
