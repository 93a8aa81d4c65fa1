using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Graph;

/// <summary>
/// External snapshot graph changes: an overlay takes over every parent of the old top, the old
/// top becomes its backing node, and undoing it restores the graph. Requests that waited on the
/// drained old top follow their edge to the overlay.
/// </summary>
public sealed class OverlayTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<TestGraph> GraphAsync()
    {
        var t = new TestGraph();
        t.Graph.RegisterDriver(new TestCowDriverFactory());
        await t.AddAsync(Opt.Memory("top"), Ct);
        await t.AddAsync(Opt.Memory("ovfile"), Ct);
        await t.AddAsync(Opt.Node("cow", "ov", ("file", "ovfile")), Ct);
        return t;
    }

    [Fact]
    public async Task Every_parent_moves_to_the_overlay_and_back_on_undo()
    {
        await using var t = await GraphAsync();
        var top = t.Graph.GetNode("top");
        var ov = t.Graph.GetNode("ov");
        var user = t.Attach("top", ConsistentRead | Write, ConsistentRead | WriteUnchanged | Write);
        await t.AddAsync(Opt.Raw("r", "top"), Ct);

        t.Graph.AppendOverlay(ov, top);

        Assert.Same(ov, user.Node);
        Assert.Equal(["backing"], top.Parents.Select(p => p.Role));
        Assert.Same(ov, top.BackingOverlay);
        Assert.Equal(2, ov.Parents.Count);
        Assert.Equal(ConsistentRead | Write, ov.CumulativePerm);
        Assert.Equal(ConsistentRead, top.CumulativePerm);
        Assert.Same(top, ((TestCowDriver)ov.Driver).Backing!.Node);

        t.Graph.RemoveOverlay(ov, top);

        Assert.Same(top, user.Node);
        Assert.Null(top.BackingOverlay);
        Assert.Null(ov.FindChild("backing"));
        Assert.Null(((TestCowDriver)ov.Driver).Backing);
        Assert.Equal(ConsistentRead | Write, top.CumulativePerm);
        Assert.Equal(None, ov.CumulativePerm);
    }

    [Fact]
    public async Task A_write_held_by_the_drain_lands_in_the_overlay()
    {
        await using var t = await GraphAsync();
        var top = t.Graph.GetNode("top");
        var ov = t.Graph.GetNode("ov");
        var user = t.Attach("top", ConsistentRead | Write);

        await top.Requests.DrainAsync(Ct);
        var data = BlockAssert.Pattern(512, 7);
        var write = user.WriteAsync(4096, data, ct: Ct).AsTask();
        var flush = user.FlushAsync(Ct).AsTask();
        Assert.False(write.IsCompleted);
        t.Graph.AppendOverlay(ov, top);
        top.Requests.EndDrain();
        await write;
        await flush;

        Assert.Equal(data, t.Memory["ovfile"].Data.Slice(4096, 512).ToArray());
        Assert.Empty(t.Memory["top"].CallsOf(DriverOp.Write));
        Assert.Empty(t.Memory["top"].CallsOf(DriverOp.Flush));
    }

    [Fact]
    public async Task Making_the_old_top_read_only_drops_its_write_permissions()
    {
        await using var t = await GraphAsync();
        var top = t.Graph.GetNode("top");
        t.Graph.AppendOverlay(t.Graph.GetNode("ov"), top);

        await t.Graph.MakeReadOnlyAsync(top, Ct);

        Assert.True(top.ReadOnly);
        Assert.Single(t.Memory["top"].CallsOf(DriverOp.Flush));
    }
}
