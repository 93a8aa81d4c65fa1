using BlockDaemon.Core.Drivers.CopyBeforeWrite;
using BlockDaemon.Core.Errors;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Drivers;

/// <summary>
/// copy-before-write: the target ends up with the data as it was when the filter came in,
/// whatever the guest writes meanwhile, each cluster copied once even under concurrent writes.
/// </summary>
public sealed class CopyBeforeWriteTests
{
    private const int Cluster = 64 << 10;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(TestGraph T, Core.Graph.BlockChild Guest, CopyBeforeWriteDriver Cbw)> SetUpAsync(string onError = "break-guest-write")
    {
        var t = new TestGraph();
        t.Graph.RegisterDriver(new CopyBeforeWriteDriverFactory());
        await t.AddAsync(Opt.Memory("disk", ("size", 1L << 20)), Ct);
        await t.AddAsync(Opt.Memory("tgt", ("size", 1L << 20)), Ct);
        t.Memory["disk"].Data.Fill(0xA1);
        var guest = t.Attach("disk", ConsistentRead | Write, ConsistentRead | Write | WriteUnchanged);
        var filter = await t.Graph.InsertFilterAsync(
            Opt.Node("copy-before-write", "cbw", ("file", "disk"), ("target", "tgt"), ("on-cbw-error", onError)), t.Graph.GetNode("disk"), ct: Ct);
        return (t, guest, (CopyBeforeWriteDriver)filter.Driver);
    }

    [Fact]
    public async Task Overwritten_clusters_reach_the_target_with_their_old_data()
    {
        var (t, guest, cbw) = await SetUpAsync();
        await using var _ = t;

        await guest.WriteAsync(Cluster + 100, BlockAssert.Pattern(4096, 7), ct: Ct);
        await guest.WriteZeroesAsync(3 * Cluster, Cluster, ct: Ct);

        Assert.All(t.Memory["tgt"].Data.Slice(Cluster, Cluster).ToArray(), b => Assert.Equal(0xA1, b));
        Assert.All(t.Memory["tgt"].Data.Slice(3 * Cluster, Cluster).ToArray(), b => Assert.Equal(0xA1, b));
        Assert.All(t.Memory["tgt"].Data.Slice(0, Cluster).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(BlockAssert.Pattern(4096, 7), t.Memory["disk"].Data.Slice(Cluster + 100, 4096).ToArray());
        Assert.Equal((1L << 20) - 2 * Cluster, cbw.State.Remaining);

        // A second write to a copied cluster copies nothing more.
        t.Memory["tgt"].ClearLog();
        await guest.WriteAsync(Cluster, BlockAssert.Pattern(512, 9), ct: Ct);
        Assert.Empty(t.Memory["tgt"].CallsOf(DriverOp.Write));
        Assert.All(t.Memory["tgt"].Data.Slice(Cluster, Cluster).ToArray(), b => Assert.Equal(0xA1, b));
    }

    [Fact]
    public async Task Concurrent_writes_to_one_cluster_wait_for_a_single_copy()
    {
        var (t, guest, _) = await SetUpAsync();
        await using var __ = t;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var copyStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        t.Memory["tgt"].Hook = async (call, ct) =>
        {
            if (call.Op == DriverOp.Write)
            {
                copyStarted.TrySetResult();
                await release.Task.WaitAsync(ct);
            }
        };

        var first = guest.WriteAsync(2 * Cluster, BlockAssert.Pattern(4096, 1), ct: Ct).AsTask();
        await copyStarted.Task.WaitAsync(Ct);
        var second = guest.WriteAsync(2 * Cluster + 8192, BlockAssert.Pattern(4096, 2), ct: Ct).AsTask();
        await Task.Yield();

        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);
        Assert.Empty(t.Memory["disk"].CallsOf(DriverOp.Write));
        release.SetResult();
        await Task.WhenAll(first, second);

        Assert.Single(t.Memory["tgt"].CallsOf(DriverOp.Write));
        Assert.All(t.Memory["tgt"].Data.Slice(2 * Cluster, Cluster).ToArray(), b => Assert.Equal(0xA1, b));
        Assert.Equal(BlockAssert.Pattern(4096, 2), t.Memory["disk"].Data.Slice(2 * Cluster + 8192, 4096).ToArray());
    }

    [Fact]
    public async Task A_failed_copy_fails_the_guest_write_and_keeps_the_cluster_to_copy()
    {
        var (t, guest, cbw) = await SetUpAsync();
        await using var _ = t;
        t.Memory["tgt"].Hook = (call, ct) => call.Op == DriverOp.Write
            ? throw new BlockException(BlockErrorKind.IoError, "Input/output error")
            : ValueTask.CompletedTask;

        await Assert.ThrowsAsync<BlockException>(() => guest.WriteAsync(0, BlockAssert.Pattern(4096, 3), ct: Ct).AsTask());

        Assert.All(t.Memory["disk"].Data.Slice(0, 4096).ToArray(), b => Assert.Equal(0xA1, b));
        Assert.Equal(1L << 20, cbw.State.Remaining);
    }

    [Fact]
    public async Task Break_snapshot_lets_the_guest_write_go_on()
    {
        var (t, guest, cbw) = await SetUpAsync("break-snapshot");
        await using var _ = t;
        t.Memory["tgt"].Hook = (call, ct) => call.Op == DriverOp.Write
            ? throw new BlockException(BlockErrorKind.IoError, "Input/output error")
            : ValueTask.CompletedTask;

        await guest.WriteAsync(0, BlockAssert.Pattern(4096, 3), ct: Ct);

        Assert.True(cbw.State.Broken);
        Assert.Equal(BlockAssert.Pattern(4096, 3), t.Memory["disk"].Data.Slice(0, 4096).ToArray());
    }
}
