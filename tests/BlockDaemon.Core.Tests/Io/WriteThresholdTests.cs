using BlockDaemon.Core.Graph;
using BlockDaemon.TestKit;

namespace BlockDaemon.Core.Tests.Io;

public sealed class WriteThresholdTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_first_write_past_the_threshold_raises_one_event_with_the_amount_exceeded()
    {
        await using var t = new TestGraph();
        var m0 = await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", BlockPermissions.Write);
        m0.WriteThreshold = 65536;

        await root.WriteAsync(0, new byte[65536], ct: Ct); // ends exactly at the threshold: not past it
        Assert.Empty(t.Events.WriteThresholdEvents);

        await root.WriteAsync(65000, new byte[1000], ct: Ct);
        Assert.Equal([new WriteThresholdEvent("m0", 464, 65536)], t.Events.WriteThresholdEvents);
        Assert.Equal(0, m0.WriteThreshold);

        await root.WriteAsync(200000, new byte[1000], ct: Ct);
        Assert.Single(t.Events.WriteThresholdEvents);
    }

    [Fact]
    public async Task Write_zeroes_past_the_threshold_raise_the_event_too()
    {
        await using var t = new TestGraph();
        var m0 = await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", BlockPermissions.Write);
        m0.WriteThreshold = 4096;
        await root.WriteZeroesAsync(0, 65536, ct: Ct);
        Assert.Equal([new WriteThresholdEvent("m0", 61440, 4096)], t.Events.WriteThresholdEvents);
    }

    [Fact]
    public async Task Concurrent_writes_past_the_threshold_raise_exactly_one_event()
    {
        await using var t = new TestGraph(new MemoryDriverFactory { Hook = async (_, _) => await Task.Yield() });
        var m0 = await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", BlockPermissions.Write);
        m0.WriteThreshold = 1000;
        await Task.WhenAll(Enumerable.Range(0, 64).Select(i => root.WriteAsync(i * 4096, new byte[] { 1 }, ct: Ct).AsTask()));
        var e = Assert.Single(t.Events.WriteThresholdEvents);
        Assert.Equal(("m0", 1000L), (e.NodeName, e.WriteThreshold));
    }

    [Fact]
    public async Task A_threshold_of_zero_is_off()
    {
        await using var t = new TestGraph();
        await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", BlockPermissions.Write);
        await root.WriteAsync(0, new byte[4096], ct: Ct);
        Assert.Empty(t.Events.WriteThresholdEvents);
    }
}
