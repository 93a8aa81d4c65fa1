using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.TestKit;

namespace BlockDaemon.Core.Tests.Graph;

public sealed class NodeLifecycleTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Inline_children_are_deleted_with_their_parent()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Raw("r2", Opt.Memory("inner")), Ct);
        Assert.Equal(["inner", "r2"], t.NodeNames);
        await t.Graph.DeleteNodeAsync("r2", Ct);
        Assert.Empty(t.Graph.Nodes);
        Assert.True(t.Memory["inner"].Disposed);
    }

    [Fact]
    public async Task Inline_children_cannot_be_deleted_alone()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Raw("r2", Opt.Null("inner")), Ct);
        await BlockAssert.ThrowsAsync(() => t.Graph.DeleteNodeAsync("inner", Ct), BlockErrorKind.Busy, "Node inner is not owned by the monitor");
        Assert.Equal(["inner", "r2"], t.NodeNames);
    }

    [Fact]
    public async Task Nodes_with_parents_are_in_use_until_the_parents_go()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("f0"), Ct);
        await t.AddAsync(Opt.Raw("r0", "f0"), Ct);
        await t.AddAsync(Opt.Raw("top", "r0"), Ct);
        await BlockAssert.ThrowsAsync(() => t.Graph.DeleteNodeAsync("f0", Ct), BlockErrorKind.Busy, "Block device f0 is in use");
        await BlockAssert.ThrowsAsync(() => t.Graph.DeleteNodeAsync("r0", Ct), BlockErrorKind.Busy, "Block device r0 is in use");

        await t.Graph.DeleteNodeAsync("top", Ct);
        await t.Graph.DeleteNodeAsync("r0", Ct);
        // Monitor-owned children stay when their parent goes.
        Assert.Equal(["f0"], t.NodeNames);
        Assert.Empty(t.Graph.GetNode("f0").Parents);
        await t.Graph.DeleteNodeAsync("f0", Ct);
        Assert.Empty(t.Graph.Nodes);
    }

    [Fact]
    public async Task A_node_with_an_attached_user_is_in_use()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m0"), Ct);
        var user = t.Graph.AttachUser("drive0", t.Graph.GetNode("m0"), BlockPermissions.ConsistentRead, BlockPermissions.All);
        await BlockAssert.ThrowsAsync(() => t.Graph.DeleteNodeAsync("m0", Ct), BlockErrorKind.Busy, "Node m0 is in use");
        t.Graph.DetachUser(user);
        await t.Graph.DeleteNodeAsync("m0", Ct);
        Assert.Empty(t.Graph.Nodes);
    }

    [Fact]
    public async Task Deleting_an_unknown_node_names_it()
    {
        await using var t = new TestGraph();
        await BlockAssert.ThrowsAsync(() => t.Graph.DeleteNodeAsync("inner", Ct), BlockErrorKind.NotFound, "Failed to find node with node-name='inner'");
    }

    [Fact]
    public async Task Delete_flushes_a_writable_node_before_closing_it()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m0"), Ct);
        await t.Graph.DeleteNodeAsync("m0", Ct);
        Assert.Single(t.Memory["m0"].CallsOf(DriverOp.Flush));
        Assert.True(t.Memory["m0"].Disposed);
    }

    [Fact]
    public async Task Failed_add_of_raw_over_a_missing_file_leaves_the_graph_unchanged()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Null("n0"), Ct);
        string missing = _dir["missing"];
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Raw("r0", Opt.File(missing, "f0")), Ct),
            BlockErrorKind.IoError, $"Could not open '{missing}': No such file or directory");
        Assert.Equal(["n0"], t.NodeNames);
        Assert.Null(t.Graph.FindNode("f0"));
        Assert.Empty(t.Graph.GetNode("n0").Parents);
        // Both names are free again.
        await t.AddAsync(Opt.Raw("r0", Opt.Null("f0")), Ct);
    }

    [Fact]
    public async Task Failed_add_after_an_inline_child_was_opened_closes_the_child_again()
    {
        await using var t = new TestGraph();
        string img = _dir.CreateFile("img", 1 << 20);
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Raw("r0", Opt.File(img, "f9"), ("offset", (1 << 20) + 1)), Ct),
            BlockErrorKind.InvalidArgument, "Offset (1048577) cannot be greater than size of the containing file (1048576)");
        Assert.Empty(t.Graph.Nodes);
        Assert.Empty(OpenDescriptorsOf(img));
        var again = await t.AddAsync(Opt.Raw("r0", Opt.File(img, "f9")), Ct);
        Assert.Equal("f9", again.FindChild("file")!.Node.NodeName);
    }

    [Fact]
    public async Task Failed_add_over_an_existing_node_leaves_no_edge_behind()
    {
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.Memory("f0", ("size", 8192)), Ct);
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Raw("r0", "f0", ("size", 16384)), Ct), BlockErrorKind.InvalidArgument,
            "The sum of offset (0) and size (16384) has to be smaller or equal to the  actual size of the containing file (8192)");
        Assert.Empty(f0.Parents);
        Assert.Equal(["f0"], t.NodeNames);
    }

    [Fact]
    public async Task Missing_and_unknown_drivers_are_refused()
    {
        await using var t = new TestGraph();
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Dict(("node-name", "x")), Ct), BlockErrorKind.InvalidArgument, "Parameter 'driver' is missing");
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Node("qcow7", "x"), Ct), BlockErrorKind.InvalidArgument, "Unknown driver 'qcow7'");
        Assert.Empty(t.Graph.Nodes);
    }

    [Fact]
    public async Task Close_all_closes_users_parents_and_children()
    {
        var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m0"), Ct);
        await t.AddAsync(Opt.Raw("r0", "m0"), Ct);
        await t.AddAsync(Opt.Raw("r1", Opt.Memory("m1")), Ct);
        t.Attach("r0", BlockPermissions.ConsistentRead | BlockPermissions.Write);
        await t.Graph.CloseAllAsync(Ct);
        Assert.Empty(t.Graph.Nodes);
        Assert.Empty(t.Graph.Users);
        Assert.True(t.Memory["m0"].Disposed);
        Assert.True(t.Memory["m1"].Disposed);
    }

    // This process's descriptors open on path (via /proc/self/fd), to prove a failed add closed its file.
    private static List<string> OpenDescriptorsOf(string path)
    {
        var found = new List<string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget == path)
                {
                    found.Add(fd);
                }
            }
            catch (IOException)
            {
                // The descriptor closed while we looked.
            }
        }
        return found;
    }
}
