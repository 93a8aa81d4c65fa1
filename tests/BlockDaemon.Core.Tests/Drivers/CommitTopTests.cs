using BlockDaemon.Core.Drivers.CommitTop;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Drivers;

/// <summary>
/// commit_top: inserted on one backing edge only, it passes reads to the committed node, writes
/// nothing, holds nothing of its own (chain walks go through it) and takes no permissions.
/// </summary>
public sealed class CommitTopTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task It_reads_through_holds_nothing_and_takes_no_permissions()
    {
        await using var t = new TestGraph();
        t.Graph.RegisterDriver(new CommitTopDriverFactory());
        var top = await t.AddAsync(Opt.Memory("top", ("size", 1L << 16)), Ct);
        t.Memory["top"].Data.Fill(0x5C);
        var other = t.Attach("top", ConsistentRead);

        var filter = await t.Graph.InsertFilterAsync(
            Opt.Node("commit_top", "ct", ("backing", "top"), ("read-only", true)), top, "backing",
            moves: _ => false, ct: Ct);

        // Nothing moved (the predicate chose no edge): the user still reads top directly.
        Assert.Same(top, other.Node);
        var driver = (CommitTopDriver)filter.Driver;
        Assert.Same(top, ((IBackingLink)driver).Backing!.Node);
        var edge = Assert.Single(top.Parents, p => p.Parent == filter);
        Assert.Equal(None, edge.Perm);
        Assert.Equal(All, edge.Shared);
        Assert.True(filter.ReadOnly);

        var buffer = new byte[512];
        await driver.ReadAsync(100, buffer, Ct);
        Assert.All(buffer, b => Assert.Equal(0x5C, b));
        var status = await driver.BlockStatusAsync(0, 4096, Ct);
        Assert.Equal(BlockStatusFlags.None, status.Flags);
        await Assert.ThrowsAsync<BlockException>(() => driver.WriteAsync(0, buffer, WriteFlags.None, Ct).AsTask());

        await t.Graph.RemoveFilterAsync(filter, Ct);
        Assert.Null(t.Graph.FindNode("ct"));
        Assert.DoesNotContain(top.Parents, p => p.Parent == filter);
    }
}
