using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Graph;

/// <summary>blockdev-reopen: what may change, and all-or-nothing over several nodes.</summary>
public sealed class ReopenOptionsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_empty_reopen_is_an_error_not_a_crash()
    {
        await using var t = new TestGraph();
        var e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync([], Ct).AsTask());
        Assert.Contains("at least one", e.Message);
    }

    [Fact]
    public async Task A_failing_set_undoes_the_sets_already_applied()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("f0"), Ct);
        await t.AddAsync(Opt.Memory("f1"), Ct);
        var r0 = await t.AddAsync(Opt.Raw("r0", "f0"), Ct);
        var r1 = await t.AddAsync(Opt.Raw("r1", "f1"), Ct);
        t.Attach("r1", ConsistentRead | Write, All);

        var e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync(
            [Opt.Raw("r0", "f0", ("read-only", true), ("detect-zeroes", "on")), Opt.Raw("r1", "f1", ("read-only", true))], Ct).AsTask());

        Assert.Equal("Read-only block node 'r1' cannot support read-write users", e.Message);
        Assert.False(r0.ReadOnly);
        Assert.Equal(DetectZeroes.Off, r0.Common.DetectZeroes);
        Assert.False(r1.ReadOnly);
    }

    [Fact]
    public async Task Runtime_options_change_and_driver_options_are_refused_before_anything_changes()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("f0"), Ct);
        var r0 = await t.AddAsync(Opt.Raw("r0", "f0", ("offset", 512)), Ct);

        var e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync(
            [Opt.Raw("r0", "f0", ("read-only", true))], Ct).AsTask());
        Assert.Equal("Cannot change the option 'offset'", e.Message);
        Assert.False(r0.ReadOnly);

        // Command-line options arrive as strings; "512" is the same offset as 512.
        await t.Graph.ReopenAsync([Opt.Raw("r0", "f0", ("offset", "512"), ("read-only", true), ("discard", "unmap"), ("detect-zeroes", "unmap"))], Ct);
        Assert.True(r0.ReadOnly);
        Assert.True(r0.Common.DiscardUnmap);
        Assert.Equal(DetectZeroes.Unmap, r0.Common.DetectZeroes);

        // Left out, an option returns to its default.
        await t.Graph.ReopenAsync([Opt.Raw("r0", "f0", ("offset", 512))], Ct);
        Assert.False(r0.ReadOnly);
        Assert.Equal(DetectZeroes.Off, r0.Common.DetectZeroes);

        e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync([Opt.Raw("r0", "f1", ("offset", 512))], Ct).AsTask());
        Assert.Equal("Cannot find device='' nor node-name='f1'", e.Message);
    }
}
