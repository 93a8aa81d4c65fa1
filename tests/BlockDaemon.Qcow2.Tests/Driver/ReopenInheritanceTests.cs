using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>
/// blockdev-reopen's reach below the named node, as in qsd: a file node added on its own is not
/// reopened with its qcow2 parent, a file created inline is and inherits read-only only when
/// the parent's set gives it; a refused reopen leaves every node as it was.
/// </summary>
public sealed class ReopenInheritanceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(TestGraph Graph, TempDirectory Dir)> CreateAsync()
    {
        var dir = new TempDirectory();
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", dir["a.qcow2"], "1M");
        var g = new TestGraph();
        g.Graph.RegisterDriver(new Qcow2DriverFactory());
        return (g, dir);
    }

    private static Core.Options.OptionDict Qcow2(string name, object file, params (string Key, object? Value)[] extra) =>
        Opt.Node("qcow2", name, [("file", file), .. extra]);

    [Fact]
    public async Task A_file_node_added_on_its_own_keeps_its_mode()
    {
        var (t, dir) = await CreateAsync();
        using var _ = dir;
        await using var __ = t;
        var f = await t.AddAsync(Opt.File(dir["a.qcow2"], "f", ("read-only", true)), Ct);
        var q = await t.AddAsync(Qcow2("q", "f", ("read-only", true)), Ct);

        var e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync([Qcow2("q", "f", ("read-only", false))], Ct).AsTask());
        Assert.Equal("Block node is read-only", e.Message);
        Assert.True(q.ReadOnly);
        Assert.True(f.ReadOnly);

        // Named together, in either order, both switch.
        await t.Graph.ReopenAsync([Opt.File(dir["a.qcow2"], "f"), Qcow2("q", "f")], Ct);
        Assert.False(q.ReadOnly);
        Assert.False(f.ReadOnly);

        // Back to read-only: the file node, not named, stays writable.
        await t.Graph.ReopenAsync([Qcow2("q", "f", ("read-only", true))], Ct);
        Assert.True(q.ReadOnly);
        Assert.False(f.ReadOnly);

        // A writable qcow2 over it: the file may not go read-only under it.
        await t.Graph.ReopenAsync([Qcow2("q", "f")], Ct);
        e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync([Opt.File(dir["a.qcow2"], "f", ("read-only", true))], Ct).AsTask());
        Assert.Equal("Read-only block node 'f' cannot support read-write users", e.Message);
        Assert.False(f.ReadOnly);
    }

    [Fact]
    public async Task An_inline_file_inherits_read_only_only_when_the_parent_set_gives_it()
    {
        var (t, dir) = await CreateAsync();
        using var _ = dir;
        await using var __ = t;
        var q = await t.AddAsync(Qcow2("q", Opt.File(dir["a.qcow2"], "qf")), Ct);
        var qf = t.Graph.GetNode("qf");

        await t.Graph.ReopenAsync([Qcow2("q", "qf", ("read-only", true))], Ct);
        Assert.True(q.ReadOnly);
        Assert.True(qf.ReadOnly);

        // Left out, read-only is not passed on: the file keeps its mode, so q cannot write.
        var e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync([Qcow2("q", "qf")], Ct).AsTask());
        Assert.Equal("Block node is read-only", e.Message);
        Assert.True(q.ReadOnly);
        Assert.True(qf.ReadOnly);

        await t.Graph.ReopenAsync([Qcow2("q", "qf", ("read-only", false))], Ct);
        Assert.False(q.ReadOnly);
        Assert.False(qf.ReadOnly);
    }

    [Fact]
    public async Task A_node_named_twice_takes_the_later_set_over_the_earlier()
    {
        var (t, dir) = await CreateAsync();
        using var _ = dir;
        await using var __ = t;
        var q = await t.AddAsync(Qcow2("q", Opt.File(dir["a.qcow2"], "qf")), Ct);

        await t.Graph.ReopenAsync([Qcow2("q", "qf", ("read-only", true)), Qcow2("q", "qf")], Ct);
        Assert.True(q.ReadOnly);

        await t.Graph.ReopenAsync([Qcow2("q", "qf", ("read-only", true)), Qcow2("q", "qf", ("read-only", false))], Ct);
        Assert.False(q.ReadOnly);
        Assert.False(t.Graph.GetNode("qf").ReadOnly);
    }
}
