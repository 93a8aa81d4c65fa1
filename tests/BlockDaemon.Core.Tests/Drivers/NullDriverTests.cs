using BlockDaemon.Core.Drivers.Null;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Drivers;

public sealed class NullDriverTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_default_size_is_one_gibibyte()
    {
        await using var t = new TestGraph();
        var n0 = await t.AddAsync(Opt.Null("n0"), Ct);
        Assert.Equal(1L << 30, n0.Length);
        Assert.Equal(NullDriverFactory.DefaultSize, n0.Length);
        Assert.Equal("null-co", n0.DriverName);
        Assert.Equal("null-co://", n0.Driver.DisplayName);
        var sized = await t.AddAsync(Opt.Null("n1", ("size", 8192)), Ct);
        Assert.Equal(8192, sized.Length);
    }

    [Fact]
    public async Task Reads_leave_the_buffer_alone_unless_read_zeroes_is_on()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Null("plain"), Ct);
        await t.AddAsync(Opt.Null("zeroes", ("read-zeroes", true)), Ct);
        var buffer = Enumerable.Repeat((byte)0xcc, 4096).ToArray();

        await t.Attach("plain", ConsistentRead).ReadAsync(100, buffer, Ct);
        Assert.All(buffer, b => Assert.Equal(0xcc, b));

        await t.Attach("zeroes", ConsistentRead).ReadAsync(100, buffer, Ct);
        Assert.All(buffer, b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Block_status_says_zero_only_with_read_zeroes()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Null("plain"), Ct);
        await t.AddAsync(Opt.Null("zeroes", ("read-zeroes", true)), Ct);
        Assert.Equal(BlockStatusFlags.Data, (await t.Attach("plain", ConsistentRead).BlockStatusAsync(0, 4096, Ct)).Flags);
        Assert.Equal(BlockStatusFlags.Zero | BlockStatusFlags.Allocated, (await t.Attach("zeroes", ConsistentRead).BlockStatusAsync(0, 4096, Ct)).Flags);
    }

    [Fact]
    public async Task Writes_are_dropped_and_resize_is_unsupported()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Null("n0", ("size", 4096), ("read-zeroes", true)), Ct);
        var root = t.Attach("n0", ConsistentRead | Write | Resize);
        await root.WriteAsync(0, new byte[] { 1, 2, 3 }, ct: Ct);
        var back = new byte[3];
        await root.ReadAsync(0, back, Ct);
        Assert.Equal(new byte[3], back);
        await BlockAssert.ThrowsAsync(() => root.TruncateAsync(8192, Ct), BlockErrorKind.NotSupported, "Image format driver does not support resize");
    }

    [Fact]
    public async Task Latency_delays_every_request()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Null("n0", ("latency-ns", 50_000_000L)), Ct);
        var root = t.Attach("n0", ConsistentRead);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await root.ReadAsync(0, new byte[512], Ct);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(40), $"took {watch.Elapsed}");
        await BlockAssert.ThrowsAsync(() => t.AddAsync(Opt.Null("bad", ("latency-ns", -1)), Ct), BlockErrorKind.InvalidArgument, "latency-ns is invalid");
    }
}
