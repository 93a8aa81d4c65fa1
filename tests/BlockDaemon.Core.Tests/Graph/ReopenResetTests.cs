using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.TestKit;

namespace BlockDaemon.Core.Tests.Graph;

/// <summary>blockdev-reopen: which options a set may leave out, and qsd's order of refusals.</summary>
public sealed class ReopenResetTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_driver_option_given_at_open_may_not_be_left_out()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Null("n", ("size", 1048576)), Ct);

        var e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync([Opt.Null("n")], Ct).AsTask());
        Assert.Equal("Option 'size' cannot be reset to its default value", e.Message);

        // Checked before the driver: a file node reopened as another driver lacks its filename.
        await t.AddAsync(Opt.Memory("m"), Ct);
        await t.AddAsync(Opt.Raw("r", "m"), Ct);
        using var dir = new TempDirectory();
        await t.AddAsync(Opt.File(dir.CreateFile("f.img", 65536), "f"), Ct);
        e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync([Opt.Raw("f", "m")], Ct).AsTask());
        Assert.Equal("Option 'filename' cannot be reset to its default value", e.Message);
        e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync([Opt.Null("r")], Ct).AsTask());
        Assert.Equal("Cannot change the option 'driver'", e.Message);
    }

    [Fact]
    public async Task A_set_that_mentions_force_share_is_refused_and_changes_nothing()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m", ("read-only", true)), Ct);
        var r = await t.AddAsync(Opt.Raw("r", "m", ("read-only", true), ("force-share", true)), Ct);

        var e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync(
            [Opt.Raw("r", "m", ("read-only", false), ("force-share", true))], Ct).AsTask());
        Assert.Equal("Cannot change the option 'force-share'", e.Message);
        e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync([Opt.Raw("r", "m", ("read-only", true))], Ct).AsTask());
        Assert.Equal("Option 'force-share' cannot be reset to its default value", e.Message);
        Assert.True(r.ReadOnly);
        Assert.True(r.Common.ForceShare);
    }
}
