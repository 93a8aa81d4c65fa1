using System.Text.RegularExpressions;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.TestKit;

namespace BlockDaemon.Core.Tests.Graph;

public sealed partial class NodeNameTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("")]
    [InlineData("bad name")]
    [InlineData("#block1")]
    [InlineData("1abc")]
    [InlineData("-a")]
    [InlineData("a/b")]
    [InlineData("é")]
    public async Task Malformed_names_are_refused(string name)
    {
        await using var t = new TestGraph();
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Null(name), Ct), BlockErrorKind.InvalidArgument, $"Invalid node-name: '{name}'");
        Assert.Empty(t.Graph.Nodes);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("a-b_c.D9")]
    [InlineData("Z")]
    public async Task Well_formed_names_are_accepted(string name)
    {
        await using var t = new TestGraph();
        var node = await t.AddAsync(Opt.Null(name), Ct);
        Assert.Equal(name, node.NodeName);
        Assert.False(node.AutoNamed);
        Assert.Same(node, t.Graph.GetNode(name));
    }

    [Fact]
    public async Task Names_may_have_31_characters_but_not_32()
    {
        await using var t = new TestGraph();
        string longest = "n" + new string('x', 30);
        await t.AddAsync(Opt.Null(longest), Ct);
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Null(longest + "y"), Ct), BlockErrorKind.InvalidArgument, "Node name too long");
        Assert.Equal([longest], t.NodeNames);
    }

    [Fact]
    public async Task Duplicate_names_are_refused_and_the_first_node_stays()
    {
        await using var t = new TestGraph();
        var first = await t.AddAsync(Opt.Null("n0", ("size", 4096)), Ct);
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Null("n0"), Ct), BlockErrorKind.InvalidArgument, "Duplicate nodes with node-name='n0'");
        Assert.Same(first, t.Graph.GetNode("n0"));
        Assert.Equal(4096, first.Length);
    }

    [Fact]
    public async Task Parent_and_inline_child_with_the_same_name_are_duplicates()
    {
        await using var t = new TestGraph();
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Raw("x", Opt.Null("x")), Ct),
            BlockErrorKind.InvalidArgument, "Duplicate nodes with node-name='x'");
        Assert.Empty(t.Graph.Nodes);
    }

    [Fact]
    public async Task Unnamed_nodes_get_generated_names_with_a_counter_and_two_digits()
    {
        await using var t = new TestGraph();
        var a = await t.AddAsync(Opt.Null(), Ct);
        var b = await t.AddAsync(Opt.Null(), Ct);
        Assert.Matches(AutoName(0), a.NodeName);
        Assert.Matches(AutoName(1), b.NodeName);
        Assert.True(a.AutoNamed);
        Assert.True(a.MonitorOwned);
        // A generated name is never well-formed, so it cannot collide with a user's name.
        Assert.False(BlockGraph.IsWellFormedName(a.NodeName));
    }

    [Fact]
    public async Task Inline_children_without_a_name_get_a_generated_name_and_are_not_monitor_owned()
    {
        await using var t = new TestGraph();
        var raw = await t.AddAsync(Opt.Raw("r0", Opt.Null()), Ct);
        var child = Assert.Single(raw.Children).Node;
        Assert.Matches(AutoName(0), child.NodeName);
        Assert.True(child.AutoNamed);
        Assert.False(child.MonitorOwned);
        Assert.True(raw.MonitorOwned);
        Assert.Same(child, t.Graph.GetNode(child.NodeName));
    }

    private static Regex AutoName(int counter) => new($"^#block{counter}[0-9]{{2}}$");
}
