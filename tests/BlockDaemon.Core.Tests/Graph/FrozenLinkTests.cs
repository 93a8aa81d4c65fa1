using BlockDaemon.Core.Drivers.CommitTop;
using BlockDaemon.Core.Drivers.CopyOnRead;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Graph;

/// <summary>
/// Frozen chain links held by a job or a copy-on-read bottom: a second holder may not freeze
/// them again, no link to a job's filter is ever frozen, and no graph change moves a frozen link
/// (qsd's bdrv_freeze_backing_chain and bdrv_replace_node refusals, with their texts).
/// </summary>
public sealed class FrozenLinkTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // base <- mid <- top (cow images over memory files), and a spare image "ov".
    private static async Task<TestGraph> ChainAsync()
    {
        var t = new TestGraph();
        t.Graph.RegisterDriver(new TestCowDriverFactory());
        t.Graph.RegisterDriver(new CopyOnReadDriverFactory());
        t.Graph.RegisterDriver(new CommitTopDriverFactory());
        await t.AddAsync(Opt.Memory("base"), Ct);
        await t.AddAsync(Opt.Memory("midfile"), Ct);
        await t.AddAsync(Opt.Node("cow", "mid", ("file", "midfile"), ("backing", "base")), Ct);
        await t.AddAsync(Opt.Memory("topfile"), Ct);
        await t.AddAsync(Opt.Node("cow", "top", ("file", "topfile"), ("backing", "mid")), Ct);
        await t.AddAsync(Opt.Memory("ovfile"), Ct);
        await t.AddAsync(Opt.Node("cow", "ov", ("file", "ovfile")), Ct);
        return t;
    }

    [Fact]
    public async Task A_checked_freeze_refuses_a_stretch_with_a_frozen_link_and_freezes_nothing()
    {
        await using var t = await ChainAsync();
        var top = t.Graph.GetNode("top");
        var mid = t.Graph.GetNode("mid");
        var base_ = t.Graph.GetNode("base");
        var held = BlockGraph.FreezeChainChecked(mid, base_);

        var e = Assert.Throws<BlockException>(() => BlockGraph.FreezeChainChecked(top, base_));

        Assert.Equal("Cannot change 'backing' link from 'mid' to 'base'", e.Message);
        Assert.False(BlockGraph.ChainChildOf(top)!.Frozen);
        Assert.Equal(1, BlockGraph.ChainChildOf(mid)!.FrozenCount);

        BlockGraph.Unfreeze(held);
        var links = BlockGraph.FreezeChainChecked(top, base_);
        Assert.Equal(2, links.Count);
        Assert.True(BlockGraph.ChainChildOf(top)!.Frozen);
        BlockGraph.Unfreeze(links);
        Assert.False(BlockGraph.ChainChildOf(top)!.Frozen);
        Assert.False(BlockGraph.ChainChildOf(mid)!.Frozen);
    }

    [Fact]
    public async Task No_link_to_a_job_filter_is_frozen()
    {
        await using var t = await ChainAsync();
        var top = t.Graph.GetNode("top");
        var mid = t.Graph.GetNode("mid");
        var filter = await t.Graph.InsertFilterAsync(
            Opt.Node("commit_top", "ct", ("backing", "mid"), ("read-only", true)), mid, "backing",
            moves: e => e.Parent == top && e.Role == "backing", ct: Ct);

        var e = Assert.Throws<BlockException>(() => BlockGraph.FreezeChainChecked(top, mid));

        Assert.Equal("Cannot freeze 'backing' link to 'ct'", e.Message);
        Assert.False(BlockGraph.ChainChildOf(top)!.Frozen);
        Assert.False(BlockGraph.ChainChildOf(filter)!.Frozen);

        // The filter's own chain may be frozen (a commit freezes from it down); a stretch that
        // runs into it then names the frozen link first, as qsd checks frozen links first.
        var own = BlockGraph.FreezeChainChecked(filter, t.Graph.GetNode("base"));
        e = Assert.Throws<BlockException>(() => BlockGraph.FreezeChainChecked(top, t.Graph.GetNode("base")));
        Assert.Equal("Cannot change 'backing' link from 'ct' to 'mid'", e.Message);
        BlockGraph.Unfreeze(own);
    }

    [Fact]
    public async Task A_copy_on_read_bottom_over_a_frozen_stretch_is_refused_and_leaves_no_node()
    {
        await using var t = await ChainAsync();
        var mid = t.Graph.GetNode("mid");
        var held = BlockGraph.FreezeChainChecked(mid, t.Graph.GetNode("base"));

        var e = await Assert.ThrowsAsync<BlockException>(() =>
            t.AddAsync(Opt.Node("copy-on-read", "cor", ("file", "top"), ("bottom", "base")), Ct).AsTask());

        Assert.Equal("Cannot change 'backing' link from 'mid' to 'base'", e.Message);
        Assert.Null(t.Graph.FindNode("cor"));
        Assert.False(BlockGraph.ChainChildOf(t.Graph.GetNode("top"))!.Frozen);
        BlockGraph.Unfreeze(held);
    }

    [Fact]
    public async Task A_copy_on_read_bottom_may_not_be_a_filter()
    {
        await using var t = await ChainAsync();
        var mid = t.Graph.GetNode("mid");
        await t.Graph.InsertFilterAsync(
            Opt.Node("commit_top", "ct", ("backing", "mid"), ("read-only", true)), mid, "backing",
            moves: e => e.Parent == t.Graph.GetNode("top") && e.Role == "backing", ct: Ct);

        var e = await Assert.ThrowsAsync<BlockException>(() =>
            t.AddAsync(Opt.Node("copy-on-read", "cor", ("file", "top"), ("bottom", "ct")), Ct).AsTask());

        Assert.Equal("Bottom node 'ct' is a filter", e.Message);
    }

    [Fact]
    public async Task Neither_an_overlay_nor_a_filter_takes_over_a_frozen_parent_link()
    {
        await using var t = await ChainAsync();
        var top = t.Graph.GetNode("top");
        var mid = t.Graph.GetNode("mid");
        // A copy-on-read node over mid with a bottom freezes its file link to mid.
        await t.AddAsync(Opt.Node("copy-on-read", "cor", ("file", "mid"), ("bottom", "base")), Ct);
        var ov = t.Graph.GetNode("ov");

        var e = Assert.Throws<BlockException>(() => t.Graph.AppendOverlay(ov, mid));
        Assert.Equal("Cannot change 'file' link to 'mid'", e.Message);
        Assert.Null(BlockGraph.BackingOf(ov));
        Assert.Same(mid, BlockGraph.BackingOf(top));

        var nodes = t.Graph.Nodes.Count;
        e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.InsertFilterAsync(
            Opt.Node("commit_top", "ct", ("backing", "mid"), ("read-only", true)), mid, "backing",
            moves: c => c.Parent == top && c.Role == "backing", ct: Ct).AsTask());
        Assert.Equal("Cannot change 'file' link to 'mid'", e.Message);
        Assert.Equal(nodes, t.Graph.Nodes.Count);
        Assert.Same(mid, BlockGraph.BackingOf(top));

        await t.Graph.DeleteNodeAsync("cor", Ct);
        t.Graph.AppendOverlay(ov, mid);
        Assert.Same(mid, BlockGraph.BackingOf(ov));
    }
}
