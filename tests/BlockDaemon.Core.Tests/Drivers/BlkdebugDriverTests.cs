using BlockDaemon.Core.Drivers.Blkdebug;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Options;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Drivers;

/// <summary>blkdebug in a graph: events raised by raw and by the generic path, errnos, limits.</summary>
public sealed class BlkdebugDriverTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<TestGraph> GraphAsync()
    {
        var t = new TestGraph();
        t.Graph.RegisterDriver(new BlkdebugDriverFactory());
        await t.AddAsync(Opt.Memory("m"), Ct);
        return t;
    }

    private static OptionList Rules(params OptionDict[] rules) => new(rules);

    [Fact]
    public async Task A_raw_read_arms_read_aio_and_the_read_fails_with_the_errno()
    {
        await using var t = await GraphAsync();
        await t.AddAsync(Opt.Node("blkdebug", "d", ("image", "m"), ("inject-error", Rules(Opt.Dict(("event", "read_aio"), ("errno", 28), ("once", true))))), Ct);
        await t.AddAsync(Opt.Raw("r", "d"), Ct);
        var root = t.Attach("r", ConsistentRead | Write);

        await root.WriteAsync(0, new byte[512], ct: Ct);
        var e = await Assert.ThrowsAsync<BlockException>(async () => await root.ReadAsync(0, new byte[512], Ct));
        Assert.Equal(28, e.Errno);
        Assert.Equal(BlockErrorKind.NoSpace, e.Kind);
        await root.ReadAsync(0, new byte[512], Ct);
    }

    [Fact]
    public async Task Pwritev_is_raised_by_the_generic_path_of_the_blkdebug_node_itself()
    {
        await using var t = await GraphAsync();
        await t.AddAsync(Opt.Node("blkdebug", "d", ("image", "m"), ("inject-error", Rules(Opt.Dict(("event", "pwritev"), ("sector", 8), ("iotype", "write"), ("immediately", true))))), Ct);
        var root = t.Attach("d", ConsistentRead | Write);

        await root.WriteAsync(0, new byte[4096], ct: Ct);
        var e = await Assert.ThrowsAsync<BlockException>(async () => await root.WriteAsync(4096, new byte[512], ct: Ct));
        Assert.Equal(Errno.EIo, e.Errno);
        await root.ReadAsync(4096, new byte[512], Ct);
        Assert.Equal(0, t.Memory["m"].CallsOf(DriverOp.Write).Count(c => c.Offset == 4096));
    }

    [Fact]
    public async Task Limits_are_checked_against_the_image_alignment_in_qsd_words()
    {
        await using var t = await GraphAsync();
        async Task<string> Fails(params (string, object?)[] options) =>
            (await Assert.ThrowsAsync<BlockException>(async () => await t.AddAsync(Opt.Node("blkdebug", "bad", [("image", "m"), .. options]), Ct))).Message;

        Assert.Equal("Cannot meet constraints with align 3", await Fails(("align", 3)));
        Assert.Equal("Cannot meet constraints with max-transfer 1000", await Fails(("align", 4096), ("max-transfer", 1000)));
        Assert.Equal("Cannot meet constraints with max-write-zero 1024", await Fails(("align", 512), ("opt-write-zero", 4096), ("max-write-zero", 1024)));
        Assert.Equal("Cannot meet constraints with max-discard 1536", await Fails(("opt-discard", 1024), ("max-discard", 1536)));
        Assert.Null(t.Graph.FindNode("bad"));
    }

    [Fact]
    public async Task Align_and_max_write_zero_shape_what_reaches_the_image()
    {
        await using var t = await GraphAsync();
        await t.AddAsync(Opt.Node("blkdebug", "d", ("image", "m"), ("align", 4096), ("max-write-zero", 8192)), Ct);
        var root = t.Attach("d", ConsistentRead | Write);
        var memory = t.Memory["m"];
        memory.ClearLog();

        await root.WriteAsync(100, new byte[10], ct: Ct);
        await root.WriteZeroesAsync(0, 65536, ct: Ct);

        Assert.All(memory.CallsOf(DriverOp.Write), c => Assert.True(c.Offset % 4096 == 0 && c.Length % 4096 == 0));
        Assert.Equal(8, memory.CallsOf(DriverOp.WriteZeroes).Count());
        Assert.All(memory.CallsOf(DriverOp.WriteZeroes), c => Assert.Equal(8192, c.Length));
    }

    [Fact]
    public async Task Take_and_unshare_child_perms_change_the_image_edge()
    {
        await using var t = await GraphAsync();
        var d = await t.AddAsync(Opt.Node("blkdebug", "d", ("image", "m"), ("take-child-perms", new OptionList(["resize"])), ("unshare-child-perms", new OptionList(["write"]))), Ct);
        var edge = d.Children.Single();
        Assert.Equal("image", edge.Role);
        Assert.Equal(Resize, edge.Perm);
        Assert.Equal(0, (int)(edge.Shared & Write));
    }
}
