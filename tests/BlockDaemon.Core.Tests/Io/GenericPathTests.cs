using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Io;

/// <summary>The one request path every driver sits behind (BlockNode.Io.cs), driven over a memory driver.</summary>
public sealed class GenericPathTests
{
    private const int Size = 1 << 20;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Unaligned_requests_round_trip_and_reach_the_driver_aligned(int alignment)
    {
        await using var t = new TestGraph(new MemoryDriverFactory { Limits = new DriverLimits { RequestAlignment = alignment, MaxTransfer = 16384 } });
        await t.AddAsync(Opt.Memory("m0", ("size", 65536)), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        var model = new byte[65536];
        var random = new Random(alignment);
        for (int i = 0; i < 300; i++)
        {
            int offset = random.Next(model.Length);
            int length = random.Next(1, Math.Min(20000, model.Length - offset) + 1);
            if (random.Next(2) == 0)
            {
                var data = new byte[length];
                random.NextBytes(data);
                await root.WriteAsync(offset, data, ct: Ct);
                data.CopyTo(model, offset);
            }
            else
            {
                var buffer = new byte[length];
                await root.ReadAsync(offset, buffer, Ct);
                Assert.True(buffer.AsSpan().SequenceEqual(model.AsSpan(offset, length)), $"read {i} at {offset} length {length} differs from the model");
            }
        }
        var driver = t.Memory["m0"];
        Assert.Empty(driver.Violations);
        Assert.All(driver.Calls, c => Assert.True(c.Offset % alignment == 0 && c.Length % alignment == 0, $"{c} is unaligned"));
        Assert.True(driver.Data.SequenceEqual(model));
    }

    [Fact]
    public async Task Requests_larger_than_max_transfer_are_split_in_order()
    {
        await using var t = new TestGraph(new MemoryDriverFactory { Limits = new DriverLimits { RequestAlignment = 512, MaxTransfer = 4096 } });
        await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        var driver = t.Memory["m0"];
        var data = BlockAssert.Pattern(10240);

        await root.WriteAsync(8192, data, ct: Ct);
        Assert.Equal(
            [new(DriverOp.Write, 8192, 4096), new(DriverOp.Write, 12288, 4096), new DriverCall(DriverOp.Write, 16384, 2048)],
            driver.Calls);

        driver.ClearLog();
        var back = new byte[10240];
        await root.ReadAsync(8192, back, Ct);
        Assert.Equal(data, back);
        Assert.Equal([8192L, 12288, 16384], driver.CallsOf(DriverOp.Read).Select(c => c.Offset));

        // An unaligned write is split after its read-modify-write too.
        driver.ClearLog();
        await root.WriteAsync(100, BlockAssert.Pattern(9000, 7), ct: Ct);
        Assert.All(driver.Calls, c => Assert.True(c.Length <= 4096));
        Assert.Equal(9216, driver.CallsOf(DriverOp.Write).Sum(c => c.Length));
        Assert.Empty(driver.Violations);
    }

    [Fact]
    public async Task Requests_beyond_the_end_are_refused_before_the_driver_sees_them()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m0", ("size", 8192)), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        await BlockAssert.ThrowsAsync(() => root.ReadAsync(8191, new byte[2], Ct), BlockErrorKind.OutOfRange,
            "Request at offset 8191 length 2 is beyond the end of node 'm0' (size 8192)");
        await BlockAssert.ThrowsAsync(() => root.ReadAsync(-1, new byte[1], Ct), BlockErrorKind.OutOfRange);
        await BlockAssert.ThrowsAsync(() => root.WriteAsync(8192, new byte[1], ct: Ct), BlockErrorKind.OutOfRange);
        await BlockAssert.ThrowsAsync(() => root.WriteZeroesAsync(4096, 4097, ct: Ct), BlockErrorKind.OutOfRange);
        await BlockAssert.ThrowsAsync(() => root.WriteZeroesAsync(0, -1, ct: Ct), BlockErrorKind.OutOfRange);
        await BlockAssert.ThrowsAsync(() => root.BlockStatusAsync(0, 8193, Ct), BlockErrorKind.OutOfRange);
        await BlockAssert.ThrowsAsync(() => root.WriteAsync(long.MaxValue, new byte[1], ct: Ct), BlockErrorKind.OutOfRange);
        Assert.Empty(t.Memory["m0"].Calls);

        // Empty requests at the very end are legal and need no driver call.
        await root.ReadAsync(8192, Memory<byte>.Empty, Ct);
        await root.WriteAsync(8192, ReadOnlyMemory<byte>.Empty, ct: Ct);
        Assert.Empty(t.Memory["m0"].Calls);
    }

    [Fact]
    public async Task A_read_only_node_refuses_writers_and_writes()
    {
        await using var t = new TestGraph();
        var m0 = await t.AddAsync(Opt.Memory("m0", ("read-only", true), ("fill", 0x5a)), Ct);
        Assert.True(m0.ReadOnly);
        BlockAssert.Throws(() => t.Attach("m0", ConsistentRead | Write), BlockErrorKind.ReadOnly, "Block node is read-only");
        Assert.Empty(m0.Parents);

        // Below the edges the node itself refuses, whoever asks.
        await BlockAssert.ThrowsAsync(() => m0.WriteAsync(0, new byte[512], WriteFlags.None, Ct), BlockErrorKind.ReadOnly, "Node 'm0' is read-only");
        await BlockAssert.ThrowsAsync(() => m0.WriteZeroesAsync(0, 512, WriteFlags.None, Ct), BlockErrorKind.ReadOnly, "Node 'm0' is read-only");
        await BlockAssert.ThrowsAsync(() => m0.DiscardAsync(0, 512, Ct), BlockErrorKind.ReadOnly);
        await BlockAssert.ThrowsAsync(() => m0.TruncateAsync(4096, Ct), BlockErrorKind.ReadOnly, "Image is read-only");
        Assert.Empty(t.Memory["m0"].Calls);

        var reader = t.Attach("m0", ConsistentRead);
        var buffer = new byte[16];
        await reader.ReadAsync(0, buffer, Ct);
        Assert.All(buffer, b => Assert.Equal(0x5a, b));
    }

    [Fact]
    public async Task Writes_through_an_edge_without_write_permission_are_refused()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m0"), Ct);
        var reader = t.Attach("m0", ConsistentRead);
        const string Message = "The user of node 'm0' did not take the 'write' permission it needs for this request";
        await BlockAssert.ThrowsAsync(() => reader.WriteAsync(0, new byte[512], ct: Ct), BlockErrorKind.PermissionConflict, Message);
        await BlockAssert.ThrowsAsync(() => reader.WriteZeroesAsync(0, 512, ct: Ct), BlockErrorKind.PermissionConflict, Message);
        await BlockAssert.ThrowsAsync(() => reader.DiscardAsync(0, 512, Ct), BlockErrorKind.PermissionConflict, Message);
        await BlockAssert.ThrowsAsync(() => reader.TruncateAsync(4096, Ct), BlockErrorKind.PermissionConflict,
            "The user of node 'm0' did not take the 'resize' permission it needs for this request");
        Assert.Empty(t.Memory["m0"].Calls);

        // WRITE_UNCHANGED is enough to write (mirror targets, copy-on-read).
        var unchanged = t.Attach("m0", ConsistentRead | WriteUnchanged);
        await unchanged.WriteAsync(0, new byte[] { 1 }, ct: Ct);
        Assert.Equal(1, t.Memory["m0"].Data[0]);
    }

    [Theory]
    [InlineData("off", false, DriverOp.Write, WriteFlags.None)]
    [InlineData("on", false, DriverOp.WriteZeroes, WriteFlags.None)]
    [InlineData("on", true, DriverOp.WriteZeroes, WriteFlags.None)]
    [InlineData("unmap", true, DriverOp.WriteZeroes, WriteFlags.MayUnmap)]
    public async Task Detect_zeroes_turns_writes_of_zeroes_into_write_zeroes(string detect, bool unmap, DriverOp expected, WriteFlags flags)
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m0", ("fill", 0xff), ("detect-zeroes", detect), ("discard", unmap ? "unmap" : "ignore")), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        await root.WriteAsync(4096, new byte[8192], ct: Ct);
        Assert.Equal([new DriverCall(expected, 4096, 8192, flags)], t.Memory["m0"].Calls);
        Assert.Equal(-1, t.Memory["m0"].Data[4096..12288].IndexOfAnyExcept((byte)0));

        // Data that is not all zeroes is written as data.
        t.Memory["m0"].ClearLog();
        await root.WriteAsync(0, new byte[] { 0, 0, 1, 0 }, ct: Ct);
        Assert.Equal(DriverOp.Write, Assert.Single(t.Memory["m0"].Calls).Op);
    }

    [Fact]
    public async Task Detect_zeroes_unmap_needs_discard_unmap()
    {
        await using var t = new TestGraph();
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Memory("m0", ("detect-zeroes", "unmap")), Ct), BlockErrorKind.InvalidArgument,
            "setting detect-zeroes to unmap is not allowed without setting discard operation to unmap");
        Assert.Empty(t.Graph.Nodes);
    }

    [Fact]
    public async Task Write_zeroes_falls_back_to_writing_zero_buffers_unless_told_not_to()
    {
        await using var t = new TestGraph(new MemoryDriverFactory { Limits = new DriverLimits { RequestAlignment = 512 } });
        await t.AddAsync(Opt.Memory("m0", ("fill", 0xee)), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        var driver = t.Memory["m0"];

        await BlockAssert.ThrowsAsync(() => root.WriteZeroesAsync(0, 4096, WriteFlags.NoFallback, Ct), BlockErrorKind.NotSupported,
            "Node 'm0' cannot write zeroes without writing data");
        Assert.Equal(0xee, driver.Data[0]);

        await root.WriteZeroesAsync(1000, 3000, WriteFlags.MayUnmap, Ct);
        Assert.Empty(driver.CallsOf(DriverOp.WriteZeroes));
        Assert.All(driver.CallsOf(DriverOp.Write), c => Assert.Equal(WriteFlags.None, c.Flags));
        Assert.Equal(0xee, driver.Data[999]);
        Assert.Equal(-1, driver.Data[1000..4000].IndexOfAnyExcept((byte)0));
        Assert.Equal(0xee, driver.Data[4000]);
        Assert.Empty(driver.Violations);
    }

    [Theory]
    [InlineData("ignore", WriteFlags.None)]
    [InlineData("unmap", WriteFlags.MayUnmap)]
    public async Task May_unmap_from_a_parent_node_reaches_the_driver_only_with_discard_unmap(string discard, WriteFlags expected)
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m0", ("discard", discard)), Ct);
        await t.AddAsync(Opt.Raw("r0", "m0"), Ct);
        var root = t.Attach("r0", ConsistentRead | Write);
        await root.WriteZeroesAsync(0, 65536, WriteFlags.MayUnmap, Ct);
        Assert.Equal([new DriverCall(DriverOp.WriteZeroes, 0, 65536, expected)], t.Memory["m0"].Calls);
    }

    [Theory]
    [InlineData("ignore")]
    [InlineData("unmap")]
    public async Task May_unmap_from_a_user_reaches_the_driver_whatever_discard_says(string discard)
    {
        // qsd: only a parent node's zero write loses MAY_UNMAP on a node without discard=unmap;
        // an export's or a job's keeps it (an NBD client's hole-punching zero write frees clusters).
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m0", ("discard", discard)), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        await root.WriteZeroesAsync(0, 65536, WriteFlags.MayUnmap, Ct);
        Assert.Equal([new DriverCall(DriverOp.WriteZeroes, 0, 65536, WriteFlags.MayUnmap)], t.Memory["m0"].Calls);
    }

    [Fact]
    public async Task Discard_is_advisory_and_trimmed_to_aligned_blocks()
    {
        await using var t = new TestGraph(new MemoryDriverFactory { Limits = new DriverLimits { RequestAlignment = 4096, SupportsDiscard = true } });
        await t.AddAsync(Opt.Memory("plain"), Ct);
        await t.AddAsync(Opt.Memory("unmap", ("discard", "unmap")), Ct);

        await t.Attach("plain", Write).DiscardAsync(0, 65536, Ct);
        Assert.Empty(t.Memory["plain"].Calls);

        var root = t.Attach("unmap", Write);
        await root.DiscardAsync(100, 10000, Ct);
        await root.DiscardAsync(100, 200, Ct);
        Assert.Equal([new DriverCall(DriverOp.Discard, 4096, 4096)], t.Memory["unmap"].Calls);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Fua_is_emulated_with_a_flush_when_the_driver_lacks_it(bool driverHasFua)
    {
        await using var t = new TestGraph(new MemoryDriverFactory { Limits = new DriverLimits { SupportsFua = driverHasFua } });
        await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", Write);
        await root.WriteAsync(0, new byte[] { 1, 2, 3 }, WriteFlags.Fua, Ct);
        DriverCall[] expected = driverHasFua
            ? [new(DriverOp.Write, 0, 3, WriteFlags.Fua)]
            : [new(DriverOp.Write, 0, 3), new(DriverOp.Flush, 0, 0)];
        Assert.Equal(expected, t.Memory["m0"].Calls);
    }

    [Fact]
    public async Task Cache_no_flush_keeps_flushes_from_the_driver()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("fast", ("cache", Opt.Dict(("no-flush", true)))), Ct);
        await t.AddAsync(Opt.Memory("safe"), Ct);
        await t.Attach("fast", Write).FlushAsync(Ct);
        await t.Attach("safe", Write).FlushAsync(Ct);
        Assert.Empty(t.Memory["fast"].Calls);
        Assert.Single(t.Memory["safe"].CallsOf(DriverOp.Flush));
        Assert.Equal(1, t.Graph.GetNode("safe").Statistics.FlushOps);
    }

    [Fact]
    public async Task Statistics_count_what_users_asked_for_not_what_the_driver_did()
    {
        var factory = new MemoryDriverFactory
        {
            Limits = new DriverLimits { RequestAlignment = 512 },
            Hook = (call, _) => call.Offset == 8192
                ? throw new BlockException(BlockErrorKind.IoError, "Injected read error")
                : ValueTask.CompletedTask,
        };
        await using var t = new TestGraph(factory);
        var m0 = await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        await root.WriteAsync(10, new byte[] { 1, 2, 3 }, ct: Ct);
        await root.ReadAsync(0, new byte[100], Ct);
        await root.ReadAsync(700, new byte[5], Ct);
        await BlockAssert.ThrowsAsync(() => root.ReadAsync(8192, new byte[10], Ct), BlockErrorKind.IoError, "Injected read error");
        Assert.Equal((3L, 1L, 105L, 2L, 1L), (m0.Statistics.WriteBytes, m0.Statistics.WriteOps, m0.Statistics.ReadBytes, m0.Statistics.ReadOps, m0.Statistics.FailedOps));
    }

    [Fact]
    public async Task Block_status_is_clamped_to_the_queried_range()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        await root.WriteAsync(4096, new byte[] { 9 }, ct: Ct);
        Assert.Equal(new BlockStatus(4096, BlockStatusFlags.Zero), await root.BlockStatusAsync(0, 4096, Ct));
        Assert.Equal(new BlockStatus(512, BlockStatusFlags.Data | BlockStatusFlags.Allocated), await root.BlockStatusAsync(4096, 512, Ct));
        Assert.Equal(new BlockStatus(0, BlockStatusFlags.None), await root.BlockStatusAsync(Size, 0, Ct));
    }
}
