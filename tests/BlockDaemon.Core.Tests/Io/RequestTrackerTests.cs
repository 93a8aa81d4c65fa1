using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Core.Tests.Io;

public sealed class RequestTrackerTests
{
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(100);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Drain_waits_for_requests_in_flight_and_holds_new_ones_until_it_ends()
    {
        var tracker = new RequestTracker();
        var first = await tracker.BeginAsync(0, 512, serialising: false, Ct);
        var drain = tracker.DrainAsync(Ct).AsTask();
        await Task.Delay(Settle, Ct);
        Assert.False(drain.IsCompleted);

        first.Dispose();
        await drain.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(0, tracker.InFlight);

        var held = tracker.BeginAsync(4096, 512, serialising: false, Ct).AsTask();
        await Task.Delay(Settle, Ct);
        Assert.False(held.IsCompleted);

        tracker.EndDrain();
        using var second = await held.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(1, tracker.InFlight);
    }

    [Fact]
    public async Task Nested_drains_release_new_requests_only_when_the_last_one_ends()
    {
        var tracker = new RequestTracker();
        await tracker.DrainAsync(Ct);
        await tracker.DrainAsync(Ct);
        var held = tracker.BeginAsync(0, 1, serialising: false, Ct).AsTask();
        tracker.EndDrain();
        await Task.Delay(Settle, Ct);
        Assert.False(held.IsCompleted);
        tracker.EndDrain();
        (await held.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Dispose();
        Assert.Throws<InvalidOperationException>(tracker.EndDrain);
    }

    [Fact]
    public async Task A_cancelled_drain_does_not_leave_the_tracker_drained()
    {
        var tracker = new RequestTracker();
        var inFlight = await tracker.BeginAsync(0, 512, serialising: false, Ct);
        using var cancel = new CancellationTokenSource();
        var drain = tracker.DrainAsync(cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => drain);

        inFlight.Dispose();
        var next = tracker.BeginAsync(0, 512, serialising: false, Ct).AsTask();
        (await next.WaitAsync(TimeSpan.FromSeconds(5), Ct)).Dispose();
    }

    [Fact]
    public async Task A_serialising_request_excludes_overlapping_requests_only()
    {
        var tracker = new RequestTracker();
        var rmw = await tracker.BeginAsync(512, 512, serialising: true, Ct);
        var overlapping = tracker.BeginAsync(900, 100, serialising: false, Ct).AsTask();
        using var before = await tracker.BeginAsync(0, 512, serialising: false, Ct);
        using var after = await tracker.BeginAsync(1024, 512, serialising: true, Ct);
        await Task.Delay(Settle, Ct);
        Assert.False(overlapping.IsCompleted);
        Assert.Equal(3, tracker.InFlight);

        rmw.Dispose();
        (await overlapping.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Dispose();
    }

    [Fact]
    public async Task Draining_a_node_waits_for_its_driver_requests()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var factory = new MemoryDriverFactory
        {
            Hook = async (call, ct) =>
            {
                if (call.Op == DriverOp.Read)
                {
                    await gate.Task.WaitAsync(ct);
                }
            },
        };
        await using var t = new TestGraph(factory);
        var m0 = await t.AddAsync(Opt.Memory("m0"), Ct);
        var root = t.Attach("m0", BlockPermissions.ConsistentRead | BlockPermissions.Write);

        var read = root.ReadAsync(0, new byte[512], Ct).AsTask();
        await WaitUntilAsync(() => m0.Requests.InFlight == 1);
        var drain = m0.Requests.DrainAsync(Ct).AsTask();
        await Task.Delay(Settle, Ct);
        Assert.False(drain.IsCompleted);

        gate.SetResult();
        await Task.WhenAll(read, drain).WaitAsync(TimeSpan.FromSeconds(10), Ct);

        var write = root.WriteAsync(0, new byte[] { 7 }, ct: Ct).AsTask();
        await Task.Delay(Settle, Ct);
        Assert.False(write.IsCompleted);
        Assert.Empty(t.Memory["m0"].CallsOf(DriverOp.Write));

        m0.Requests.EndDrain();
        await write.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(7, t.Memory["m0"].Data[0]);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (int i = 0; i < 1000 && !condition(); i++)
        {
            await Task.Delay(10, Ct);
        }
        Assert.True(condition());
    }
}
