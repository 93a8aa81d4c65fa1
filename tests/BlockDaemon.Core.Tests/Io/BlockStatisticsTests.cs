using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Io;

/// <summary>
/// The per-node counters query-blockstats reports: wr_highest_offset (NodeStatistics.HighestWriteEnd,
/// kept by the generic path) and the file driver's discard counters.
/// </summary>
public sealed class BlockStatisticsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Writes_and_write_zeroes_raise_the_mark_reads_discards_and_flushes_do_not()
    {
        await using var t = new TestGraph();
        var m0 = await t.AddAsync(Opt.Memory("m0", ("discard", "unmap")), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        Assert.Equal(0, m0.Statistics.HighestWriteEnd);

        await root.ReadAsync(500_000, new byte[4096], Ct);
        await root.DiscardAsync(600_000, 4096, Ct);
        await root.FlushAsync(Ct);
        Assert.Equal(0, m0.Statistics.HighestWriteEnd);

        await root.WriteAsync(1000, new byte[] { 1, 2, 3 }, ct: Ct);
        Assert.Equal(1003, m0.Statistics.HighestWriteEnd);
        await root.WriteZeroesAsync(40_000, 960, ct: Ct);
        Assert.Equal(40_960, m0.Statistics.HighestWriteEnd);
        // A lower write leaves the mark where it is.
        await root.WriteAsync(0, new byte[] { 9 }, ct: Ct);
        Assert.Equal(40_960, m0.Statistics.HighestWriteEnd);
        // A write of zeroes turned into write-zeroes by detect-zeroes counts the same.
        await root.WriteAsync(50_000, new byte[100], ct: Ct);
        Assert.Equal(50_100, m0.Statistics.HighestWriteEnd);
    }

    [Fact]
    public async Task An_unaligned_write_counts_up_to_the_end_of_its_padded_range()
    {
        await using var t = new TestGraph(new MemoryDriverFactory { Limits = new DriverLimits { RequestAlignment = 512, SupportsWriteZeroes = true } });
        var m0 = await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        await root.WriteAsync(1000, new byte[] { 1, 2, 3 }, ct: Ct);
        Assert.Equal(1024, m0.Statistics.HighestWriteEnd);
        await root.WriteZeroesAsync(2000, 100, ct: Ct);
        Assert.Equal(2560, m0.Statistics.HighestWriteEnd);
    }

    [Fact]
    public async Task A_failed_write_still_counts_once_the_node_admitted_it()
    {
        var factory = new MemoryDriverFactory
        {
            Hook = (call, _) => call.Op == DriverOp.Write
                ? throw new BlockException(BlockErrorKind.IoError, "Injected write error")
                : ValueTask.CompletedTask,
        };
        await using var t = new TestGraph(factory);
        var m0 = await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        await BlockAssert.ThrowsAsync(() => root.WriteAsync(8192, new byte[] { 1 }, ct: Ct), BlockErrorKind.IoError, "Injected write error");
        Assert.Equal(8193, m0.Statistics.HighestWriteEnd);
        // One refused before admission (out of range) does not.
        await Assert.ThrowsAnyAsync<BlockException>(() => root.WriteAsync(m0.Length, new byte[] { 1 }, ct: Ct).AsTask());
        Assert.Equal(8193, m0.Statistics.HighestWriteEnd);
    }

    [Fact]
    public async Task A_copy_on_read_fill_leaves_the_node_written_to_alone_and_the_flag_stops_there()
    {
        await using var t = new TestGraph();
        var m0 = await t.AddAsync(Opt.Memory("m0"), Ct);
        var r0 = await t.AddAsync(Opt.Raw("r0", "m0"), Ct);
        var root = t.Attach("r0", ConsistentRead | Write);

        await root.WriteAsync(4096, new byte[] { 7 }, WriteFlags.CopyOnRead, Ct);
        await root.WriteZeroesAsync(16384, 4096, WriteFlags.CopyOnRead, Ct);

        Assert.Equal(0, r0.Statistics.HighestWriteEnd);
        Assert.Equal(20480, m0.Statistics.HighestWriteEnd);
        Assert.All(t.Memory["m0"].Calls, c => Assert.Equal(WriteFlags.None, c.Flags & WriteFlags.CopyOnRead));
    }

    [Fact]
    public async Task Concurrent_writes_leave_the_highest_end()
    {
        await using var t = new TestGraph();
        var m0 = await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        var ends = Enumerable.Range(1, 200).Select(i => (long)i * 4096).ToArray();
        Random.Shared.Shuffle(ends);
        await Task.WhenAll(ends.Select(end => Task.Run(async () => await root.WriteAsync(end - 1, new byte[] { 1 }, ct: Ct), Ct)));
        Assert.Equal(200L * 4096, m0.Statistics.HighestWriteEnd);
    }

    [Fact]
    public async Task A_zero_fill_a_parent_relies_on_raises_the_mark_like_a_write()
    {
        await using var t = new TestGraph();
        var m0 = await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        root.CountZeroFillTo(65536);
        Assert.Equal(65536, m0.Statistics.HighestWriteEnd);
        root.CountZeroFillTo(4096);
        Assert.Equal(65536, m0.Statistics.HighestWriteEnd);
        Assert.Empty(t.Memory["m0"].Calls);
    }

    [Fact]
    public async Task The_file_driver_counts_the_discards_that_reach_it()
    {
        string img = _dir.CreateFile("img", 1 << 20);
        await using var t = new TestGraph();
        var f0 = await t.AddAsync(Opt.File(img, "f0", ("discard", "unmap")), Ct);
        await t.AddAsync(Opt.Raw("r0", "f0"), Ct);
        var file = Assert.IsType<FileDriver>(f0.Driver);

        // r0 has discard=ignore: its discards stop there.
        await t.Attach("r0", ConsistentRead | Write).DiscardAsync(0, 65536, Ct);
        Assert.Equal((0L, 0L, 0L), (file.Discards.Succeeded, file.Discards.Failed, file.Discards.SucceededBytes));

        var direct = t.Attach("f0", ConsistentRead | Write);
        await direct.DiscardAsync(5000, 3000, Ct);
        await direct.DiscardAsync(65536, 131072, Ct);
        Assert.Equal((2L, 0L, 134072L), (file.Discards.Succeeded, file.Discards.Failed, file.Discards.SucceededBytes));
        Assert.Equal(0, f0.Statistics.HighestWriteEnd);
    }
}
