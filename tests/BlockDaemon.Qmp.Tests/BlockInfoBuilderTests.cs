using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qmp.Commands;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qmp.Tests;

/// <summary>
/// query-named-block-nodes and x-debug-query-block-graph for format nodes and backing chains,
/// with the values qsd 7.2 prints (see iotests 022-031 for the recorded originals).
/// </summary>
public sealed class BlockInfoBuilderTests : IAsyncDisposable
{
    private static readonly string[] InUseAuto = ["in-use", "auto"];
    private readonly TempDirectory _dir = new();
    private readonly FakeFormatFactory _format = new();
    private readonly TestGraph _graph = new();

    public BlockInfoBuilderTests()
    {
        _graph.Graph.RegisterDriver(_format);
        foreach (string name in new[] { "base.qcow2", "mid.qcow2", "top.qcow2", "other.qcow2" })
        {
            _dir.CreateFile(name, 4096);
        }
        _format.Images[_dir["top.qcow2"]] = Image("mid.qcow2");
        _format.Images[_dir["mid.qcow2"]] = Image("base.qcow2");
        _format.Images[_dir["base.qcow2"]] = Image(null);
        _format.Images[_dir["other.qcow2"]] = Image(null);
    }

    public async ValueTask DisposeAsync()
    {
        await _graph.DisposeAsync();
        _dir.Dispose();
    }

    private static ImageInfo Image(string? backing, string format = "qcow2") => new()
    {
        ClusterSize = 65536,
        DirtyFlag = false,
        BackingFileName = backing,
        BackingFormat = backing is null ? null : format,
        FormatSpecificType = "qcow2",
        FormatSpecific = [new("compat", "1.1"), new("refcount-bits", 16L), new("corrupt", false)],
    };

    private ValueTask<BlockNode> AddQcow2Async(string node, string image, params (string Key, object? Value)[] extra) =>
        _graph.AddAsync(Opt.Node("qcow2", node, [("file", Opt.File(_dir[image])), .. extra]), TestContext.Current.CancellationToken);

    private string D(string text) => text.Replace("DIR", _dir.Path, StringComparison.Ordinal);

    [Fact]
    public async Task Chain_opened_from_headers_nests_backing_images_and_counts_depth()
    {
        var top = await AddQcow2Async("top", "top.qcow2");

        var info = BlockInfoBuilder.DeviceInfo(top);

        Assert.Equal(D("DIR/top.qcow2"), (string)info["file"]!);
        Assert.Equal(D("DIR/mid.qcow2"), (string)info["backing_file"]!);
        Assert.Equal(2, (int)info["backing_file_depth"]!);
        var image = info["image"]!;
        Assert.Equal("mid.qcow2", (string)image["backing-filename"]!);
        Assert.Equal(D("DIR/mid.qcow2"), (string)image["full-backing-filename"]!);
        Assert.Equal("qcow2", (string)image["backing-filename-format"]!);
        Assert.Equal(65536, (int)image["cluster-size"]!);
        Assert.False((bool)image["dirty-flag"]!);
        AssertJson("""{"type": "qcow2", "data": {"compat": "1.1", "refcount-bits": 16, "corrupt": false}}""", image["format-specific"]);
        var mid = image["backing-image"]!;
        Assert.Equal(D("DIR/mid.qcow2"), (string)mid["filename"]!);
        Assert.Equal("base.qcow2", (string)mid["backing-filename"]!);
        var baseImage = mid["backing-image"]!;
        Assert.Equal(D("DIR/base.qcow2"), (string)baseImage["filename"]!);
        Assert.Null(baseImage["backing-image"]);
        Assert.Null(baseImage["backing-filename"]);
    }

    [Fact]
    public async Task Flat_info_keeps_backing_names_but_drops_chain_and_depth()
    {
        var top = await AddQcow2Async("top", "top.qcow2");

        var info = BlockInfoBuilder.DeviceInfo(top, flat: true);

        Assert.Equal(D("DIR/mid.qcow2"), (string)info["backing_file"]!);
        Assert.Equal(0, (int)info["backing_file_depth"]!);
        Assert.False(info["image"]!.AsObject().ContainsKey("backing-image"));
        Assert.Equal("mid.qcow2", (string)info["image"]!["backing-filename"]!);
    }

    [Fact]
    public async Task Auto_opened_backing_nodes_are_read_only_with_plain_names()
    {
        await AddQcow2Async("top", "top.qcow2");

        var mid = _graph.Graph.Nodes.Single(n => n.DriverName == "qcow2" && n.Driver.DisplayName == _dir["mid.qcow2"]);
        var info = BlockInfoBuilder.DeviceInfo(mid);

        Assert.True((bool)info["ro"]!);
        Assert.Equal(D("DIR/mid.qcow2"), (string)info["file"]!);
        Assert.Equal(1, (int)info["backing_file_depth"]!);
    }

    [Fact]
    public async Task Backing_null_over_a_header_backing_makes_a_json_filename()
    {
        var node = await AddQcow2Async("nb", "top.qcow2", ("backing", null));

        var info = BlockInfoBuilder.DeviceInfo(node);

        Assert.Equal(
            D("""json:{"backing": null, "driver": "qcow2", "file": {"driver": "file", "filename": "DIR/top.qcow2"}}"""),
            (string)info["file"]!);
        Assert.Null(info["backing_file"]);
        Assert.Equal(0, (int)info["backing_file_depth"]!);
        Assert.Equal("mid.qcow2", (string)info["image"]!["backing-filename"]!);
        Assert.Equal(D("DIR/mid.qcow2"), (string)info["image"]!["full-backing-filename"]!);
    }

    [Fact]
    public async Task Backing_null_without_a_header_backing_keeps_the_plain_name()
    {
        var node = await AddQcow2Async("nb", "base.qcow2", ("backing", null));

        Assert.Equal(_dir["base.qcow2"], NodeFilename.For(node));
    }

    [Fact]
    public async Task Explicit_backing_other_than_the_header_string_makes_a_json_filename()
    {
        await AddQcow2Async("other", "other.qcow2", ("read-only", true));
        // The header says "base.qcow2" (relative): even the same file by node differs literally.
        await AddQcow2Async("base", "base.qcow2", ("read-only", true));
        var t1 = await AddQcow2Async("t1", "mid.qcow2", ("backing", "other"));
        var t2 = await AddQcow2Async("t2", "mid.qcow2", ("backing", "base"), ("read-only", true));

        var info = BlockInfoBuilder.DeviceInfo(t1);

        string json = D("""json:{"backing": {"driver": "qcow2", "file": {"driver": "file", "filename": "DIR/other.qcow2"}}, "driver": "qcow2", "file": {"driver": "file", "filename": "DIR/mid.qcow2"}}""");
        Assert.Equal(json, (string)info["file"]!);
        Assert.Equal(json, (string)info["image"]!["filename"]!);
        Assert.Equal(D("DIR/other.qcow2"), (string)info["backing_file"]!);
        Assert.Equal("base.qcow2", (string)info["image"]!["backing-filename"]!);
        Assert.Equal(D("DIR/other.qcow2"), (string)info["image"]!["backing-image"]!["filename"]!);
        Assert.StartsWith("json:{\"backing\": {", NodeFilename.For(t2), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explicit_backing_equal_to_an_absolute_header_name_keeps_the_plain_name()
    {
        _format.Images[_dir["top.qcow2"]] = Image(_dir["base.qcow2"]);
        await AddQcow2Async("base", "base.qcow2", ("read-only", true));
        var top = await AddQcow2Async("top", "top.qcow2", ("backing", "base"));

        var info = BlockInfoBuilder.DeviceInfo(top);

        Assert.Equal(_dir["top.qcow2"], (string)info["file"]!);
        Assert.Equal(_dir["base.qcow2"], (string)info["image"]!["full-backing-filename"]!);
        Assert.False((bool)info["ro"]!);
    }

    [Fact]
    public async Task Raw_over_a_format_node_asks_it_for_cluster_size_and_is_json()
    {
        await AddQcow2Async("q", "base.qcow2", ("read-only", true));
        var raw = await _graph.AddAsync(Opt.Raw("r", "q"), TestContext.Current.CancellationToken);

        var info = BlockInfoBuilder.DeviceInfo(raw);

        Assert.Equal(D("""json:{"driver": "raw", "file": {"driver": "qcow2", "file": {"driver": "file", "filename": "DIR/base.qcow2"}}}"""), (string)info["file"]!);
        Assert.Equal(65536, (int)info["image"]!["cluster-size"]!);
        Assert.False((bool)info["image"]!["dirty-flag"]!);
        Assert.Null(info["image"]!["format-specific"]);
    }

    [Fact]
    public async Task Raw_over_a_plain_raw_node_is_json_too()
    {
        await _graph.AddAsync(Opt.Raw("r0", Opt.File(_dir["base.qcow2"])), TestContext.Current.CancellationToken);
        var r1 = await _graph.AddAsync(Opt.Raw("r1", "r0"), TestContext.Current.CancellationToken);

        Assert.Equal(_dir["base.qcow2"], NodeFilename.For(_graph.Graph.GetNode("r0")));
        Assert.Equal(D("""json:{"driver": "raw", "file": {"driver": "raw", "file": {"driver": "file", "filename": "DIR/base.qcow2"}}}"""), NodeFilename.For(r1));
    }

    [Fact]
    public async Task Actual_size_of_a_format_node_is_its_file_without_the_backing_chain()
    {
        var top = await AddQcow2Async("top", "top.qcow2");

        long file = (long)BlockInfoBuilder.DeviceInfo(top.FindChild("file")!.Node)["image"]!["actual-size"]!;

        Assert.Equal(file, (long)BlockInfoBuilder.DeviceInfo(top)["image"]!["actual-size"]!);
    }

    [Fact]
    public async Task Snapshots_split_the_vm_clock_and_omit_a_missing_icount()
    {
        _format.Images[_dir["base.qcow2"]] = Image(null) with
        {
            Snapshots =
            [
                new ImageSnapshot("1", "first", 0, 1700000000, 5, 3_000_000_007, 0),
                new ImageSnapshot("3", "with space", 4096, 1700000001, 6, 0, null),
            ],
        };
        var node = await AddQcow2Async("q", "base.qcow2");

        AssertJson(
            """
            [{"id": "1", "name": "first", "vm-state-size": 0, "date-sec": 1700000000, "date-nsec": 5, "vm-clock-sec": 3, "vm-clock-nsec": 7, "icount": 0},
             {"id": "3", "name": "with space", "vm-state-size": 4096, "date-sec": 1700000001, "date-nsec": 6, "vm-clock-sec": 0, "vm-clock-nsec": 0}]
            """,
            BlockInfoBuilder.DeviceInfo(node)["image"]!["snapshots"]);
    }

    [Fact]
    public async Task No_snapshots_means_no_member()
    {
        var node = await AddQcow2Async("q", "base.qcow2");

        Assert.False(BlockInfoBuilder.DeviceInfo(node)["image"]!.AsObject().ContainsKey("snapshots"));
    }

    [Fact]
    public async Task Format_specific_nests_pair_lists_as_objects_and_value_lists_as_arrays()
    {
        _format.Images[_dir["base.qcow2"]] = Image(null) with
        {
            DirtyFlag = true,
            FormatSpecific =
            [
                new("compat", "1.1"),
                new("bitmaps", new List<IReadOnlyList<KeyValuePair<string, object?>>>
                {
                    new List<KeyValuePair<string, object?>> { new("name", "b0"), new("granularity", 65536), new("flags", InUseAuto) },
                    new List<KeyValuePair<string, object?>> { new("name", "b1"), new("granularity", 131072L), new("flags", Array.Empty<string>()) },
                }),
            ],
        };
        var node = await AddQcow2Async("q", "base.qcow2", ("read-only", true));

        var image = BlockInfoBuilder.DeviceInfo(node)["image"]!;

        Assert.True((bool)image["dirty-flag"]!);
        AssertJson(
            """
            {"type": "qcow2", "data": {"compat": "1.1", "bitmaps": [
              {"name": "b0", "granularity": 65536, "flags": ["in-use", "auto"]},
              {"name": "b1", "granularity": 131072, "flags": []}]}}
            """,
            image["format-specific"]);
    }

    [Fact]
    public async Task Graph_lists_each_nodes_children_newest_first_like_qemu()
    {
        await AddQcow2Async("base", "base.qcow2", ("read-only", true));
        await AddQcow2Async("top", "mid.qcow2", ("backing", "base"));

        var graph = BlockInfoBuilder.Graph(_graph.Graph);

        var names = graph["nodes"]!.AsArray().ToDictionary(n => (long)n!["id"]!, n => ((string)n!["name"]!).StartsWith('#') ? "#auto" : (string)n["name"]!);
        var edges = graph["edges"]!.AsArray()
            .Select(e => $"{names[(long)e!["parent"]!]} -{(string)e["name"]!}-> {names[(long)e["child"]!]}")
            .ToList();
        // Output is newest first overall; within "top", QEMU visits backing (attached last) first.
        Assert.Equal(["top -file-> #auto", "top -backing-> base", "base -file-> #auto"], edges);
        var backingEdge = graph["edges"]!.AsArray().Single(e => (string)e!["name"]! == "backing")!;
        AssertJson("""[]""", backingEdge["perm"]);
        AssertJson("""["resize", "write-unchanged", "write", "consistent-read"]""", backingEdge["shared-perm"]);
    }

    private static void AssertJson(string expected, JsonNode? actual) =>
        Assert.Equal(Canonical(JsonNode.Parse(expected)), Canonical(actual));

    // Object members sorted by name at every depth, so comparisons do not depend on wire order.
    private static string Canonical(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject o => "{" + string.Join(",", o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"\"{p.Key}\":{Canonical(p.Value)}")) + "}",
        JsonArray a => "[" + string.Join(",", a.Select(Canonical)) + "]",
        _ => node.ToJsonString(),
    };
}
