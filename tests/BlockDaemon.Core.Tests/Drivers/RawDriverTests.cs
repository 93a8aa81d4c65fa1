using BlockDaemon.Core.Drivers.Raw;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Drivers;

public sealed class RawDriverTests : IDisposable
{
    private const int FileSize = 1 << 20;
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_window_maps_reads_and_writes_to_the_file_at_its_offset()
    {
        var content = BlockAssert.Pattern(FileSize);
        string img = _dir.CreateFile("img", content);
        await using var t = new TestGraph();
        await t.AddAsync(Opt.File(img, "f0"), Ct);
        var r1 = await t.AddAsync(Opt.Raw("r1", "f0", ("offset", 4096), ("size", 65536)), Ct);
        Assert.Equal(65536, r1.Length);
        Assert.True(((RawDriver)r1.Driver).IsWindow);
        var root = t.Attach("r1", ConsistentRead | Write);

        var back = new byte[1000];
        await root.ReadAsync(100, back, Ct);
        Assert.Equal(content.AsSpan(4196, 1000).ToArray(), back);

        var data = BlockAssert.Pattern(700, 99);
        await root.WriteAsync(65536 - 700, data, ct: Ct);
        data.CopyTo(content, 4096 + 65536 - 700);
        Assert.Equal(content, File.ReadAllBytes(img));

        await BlockAssert.ThrowsAsync(() => root.WriteAsync(65536 - 699, data, ct: Ct), BlockErrorKind.OutOfRange,
            "Request at offset 64837 length 700 is beyond the end of node 'r1' (size 65536)");
        await BlockAssert.ThrowsAsync(() => root.ReadAsync(65536, new byte[1], Ct), BlockErrorKind.OutOfRange);
    }

    [Fact]
    public async Task An_offset_without_size_runs_to_the_end_of_the_file()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m0", ("size", 65536)), Ct);
        var r2 = await t.AddAsync(Opt.Raw("r2", "m0", ("offset", 1536)), Ct);
        Assert.Equal(65536 - 1536, r2.Length);
        await t.Attach("r2", Write).WriteZeroesAsync(0, 512, ct: Ct);
        Assert.Equal([new DriverCall(DriverOp.WriteZeroes, 1536, 512)], t.Memory["m0"].CallsOf(DriverOp.WriteZeroes));
        var r3 = await t.AddAsync(Opt.Raw("r3", "m0", ("offset", 65536)), Ct);
        Assert.Equal(0, r3.Length);
    }

    [Fact]
    public async Task A_plain_raw_node_is_its_file_and_resizes_it()
    {
        string img = _dir.CreateFile("img", FileSize);
        await using var t = new TestGraph();
        var r0 = await t.AddAsync(Opt.Raw("r0", Opt.File(img)), Ct);
        Assert.Equal(FileSize, r0.Length);
        Assert.Equal(img, r0.Driver.DisplayName);
        Assert.False(((RawDriver)r0.Driver).IsWindow);
        var root = t.Attach("r0", ConsistentRead | Write | Resize);
        await root.TruncateAsync(4 << 20, Ct);
        Assert.Equal(4 << 20, new FileInfo(img).Length);
        Assert.Equal(4 << 20, r0.Length);
        var status = await root.BlockStatusAsync(0, 4096, Ct);
        Assert.True(status.Flags.HasFlag(BlockStatusFlags.Allocated));
    }

    [Fact]
    public async Task A_fixed_size_window_cannot_be_resized()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m0"), Ct);
        await t.AddAsync(Opt.Raw("r1", "m0", ("offset", 512), ("size", 1024)), Ct);
        var root = t.Attach("r1", ConsistentRead | Resize);
        await BlockAssert.ThrowsAsync(() => root.TruncateAsync(2048, Ct), BlockErrorKind.NotSupported, "Cannot resize fixed-size raw disks");
        Assert.Empty(t.Memory["m0"].CallsOf(DriverOp.Truncate));
    }

    [Theory]
    [InlineData(1048577L, null, "Offset (1048577) cannot be greater than size of the containing file (1048576)")]
    [InlineData(4096L, 1048576L, "The sum of offset (4096) and size (1048576) has to be smaller or equal to the  actual size of the containing file (1048576)")]
    [InlineData(null, 2097152L, "The sum of offset (0) and size (2097152) has to be smaller or equal to the  actual size of the containing file (1048576)")]
    public async Task Windows_outside_the_file_are_refused_in_qsd_words(long? offset, long? size, string message)
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("f0", ("size", FileSize)), Ct);
        var options = Opt.Raw("e0", "f0");
        if (offset is { } o)
        {
            options.Set("offset", o);
        }
        if (size is { } s)
        {
            options.Set("size", s);
        }
        await BlockAssert.ThrowsAsync(() => t.AddAsync(options, Ct), BlockErrorKind.InvalidArgument, message);
        Assert.Equal(["f0"], t.NodeNames);
    }

    [Fact]
    public async Task A_size_that_is_not_a_multiple_of_512_is_refused_in_qsd_words()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("f0"), Ct);
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Raw("e4", "f0", ("size", 1000)), Ct), BlockErrorKind.InvalidArgument,
            "Specified size is not multiple of 512");
    }

    [Fact]
    public async Task Missing_and_unknown_file_children_are_refused()
    {
        await using var t = new TestGraph();
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Node("raw", "e5"), Ct), BlockErrorKind.InvalidArgument,
            "A block device must be specified for \"file\"");
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Raw("e5", "nope"), Ct), BlockErrorKind.NotFound,
            "Cannot find device='nope' nor node-name='nope'");
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Raw("e6", "e6"), Ct), BlockErrorKind.NotFound,
            "Cannot find device='e6' nor node-name='e6'");
        Assert.Empty(t.Graph.Nodes);
    }

    [Fact]
    public async Task Read_only_is_inherited_by_inline_children()
    {
        await using var t = new TestGraph();
        var r6 = await t.AddAsync(Opt.Raw("r6", Opt.Null(), ("read-only", true)), Ct);
        Assert.True(r6.ReadOnly);
        Assert.True(r6.FindChild("file")!.Node.ReadOnly);
        var r7 = await t.AddAsync(Opt.Raw("r7", Opt.Null(null, ("read-only", false)), ("read-only", true)), Ct);
        Assert.False(r7.FindChild("file")!.Node.ReadOnly);
    }

    [Fact]
    public async Task An_unaligned_write_to_a_small_window_leaves_the_rest_of_the_file_alone()
    {
        await using var t = new TestGraph(new MemoryDriverFactory { Limits = new DriverLimits { RequestAlignment = 4096 } });
        await t.AddAsync(Opt.Memory("m0", ("fill", 0xab)), Ct);
        await t.AddAsync(Opt.Raw("r1", "m0", ("size", 512)), Ct);
        var root = t.Attach("r1", ConsistentRead | Write);

        await root.WriteAsync(0, new byte[] { 1, 2, 3 }, ct: Ct);

        var file = t.Memory["m0"].Data;
        Assert.Equal([1, 2, 3], file[..3].ToArray());
        Assert.Equal(-1, file[3..8192].IndexOfAnyExcept((byte)0xab));
    }

    [Fact]
    public async Task An_unaligned_read_at_the_end_of_a_window_at_the_end_of_the_file_succeeds()
    {
        await using var t = new TestGraph(new MemoryDriverFactory { Limits = new DriverLimits { RequestAlignment = 4096 } });
        await t.AddAsync(Opt.Memory("m0", ("size", 65536), ("fill", 0xab)), Ct);
        await t.AddAsync(Opt.Raw("r1", "m0", ("offset", 65536 - 1024), ("size", 1024)), Ct);
        var back = new byte[10];
        await t.Attach("r1", ConsistentRead).ReadAsync(1000, back, Ct);
        Assert.All(back, b => Assert.Equal(0xab, b));
    }
}
