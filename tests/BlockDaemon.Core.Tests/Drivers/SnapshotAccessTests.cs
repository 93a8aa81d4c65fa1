using BlockDaemon.Core.Drivers.CopyBeforeWrite;
using BlockDaemon.Core.Drivers.SnapshotAccess;
using BlockDaemon.Core.Errors;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Drivers;

/// <summary>
/// snapshot-access over copy-before-write (new-style fleecing): the reader sees the disk as it
/// was when the filter came in, whatever the guest writes; a guest write never overwrites data
/// a snapshot read is still taking from the disk; released clusters can no longer be read.
/// </summary>
public sealed class SnapshotAccessTests
{
    private const int Cluster = 64 << 10;
    private const int EAccess = 13;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(TestGraph T, Core.Graph.BlockChild Guest, Core.Graph.BlockChild Reader)> SetUpAsync(string onError = "break-guest-write")
    {
        var t = new TestGraph();
        t.Graph.RegisterDriver(new CopyBeforeWriteDriverFactory());
        t.Graph.RegisterDriver(new SnapshotAccessDriverFactory());
        await t.AddAsync(Opt.Memory("disk", ("size", 1L << 20)), Ct);
        await t.AddAsync(Opt.Memory("tgt", ("size", 1L << 20)), Ct);
        t.Memory["disk"].Data.Fill(0xA1);
        var guest = t.Attach("disk", ConsistentRead | Write, ConsistentRead | Write | WriteUnchanged);
        await t.Graph.InsertFilterAsync(
            Opt.Node("copy-before-write", "cbw", ("file", "disk"), ("target", "tgt"), ("on-cbw-error", onError)), t.Graph.GetNode("disk"), ct: Ct);
        await t.AddAsync(Opt.Node("snapshot-access", "sa", ("file", "cbw"), ("discard", "unmap")), Ct);
        var reader = t.Attach("sa", ConsistentRead | Write);
        return (t, guest, reader);
    }

    private static async Task<byte[]> ReadAsync(Core.Graph.BlockChild edge, long offset, int length)
    {
        var buffer = new byte[length];
        await edge.ReadAsync(offset, buffer, Ct);
        return buffer;
    }

    [Fact]
    public async Task Reads_give_the_point_in_time_from_target_and_source()
    {
        var (t, guest, reader) = await SetUpAsync();
        await using var _ = t;

        await guest.WriteAsync(Cluster + 100, BlockAssert.Pattern(4096, 7), ct: Ct);
        await guest.WriteZeroesAsync(3 * Cluster, Cluster, ct: Ct);

        // One read spanning source, copied, source, copied clusters.
        Assert.All(await ReadAsync(reader, 0, 4 * Cluster), b => Assert.Equal(0xA1, b));
        t.Memory["tgt"].ClearLog();
        t.Memory["disk"].ClearLog();
        await ReadAsync(reader, Cluster, 4096);
        Assert.Single(t.Memory["tgt"].CallsOf(DriverOp.Read));
        Assert.Empty(t.Memory["disk"].CallsOf(DriverOp.Read));
        Assert.Equal(BlockAssert.Pattern(4096, 7), await ReadAsync(guest, Cluster + 100, 4096));
    }

    [Fact]
    public async Task A_snapshot_read_of_the_source_holds_off_the_guest_write_that_would_overwrite_it()
    {
        var (t, guest, reader) = await SetUpAsync();
        await using var _ = t;
        var readStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var copied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int reads = 0;
        t.Memory["disk"].Hook = async (call, ct) =>
        {
            // Only the snapshot read (the first read of the disk) is held; the copy reads freely.
            if (call.Op == DriverOp.Read && Interlocked.Increment(ref reads) == 1)
            {
                readStarted.SetResult();
                await release.Task.WaitAsync(ct);
            }
        };
        t.Memory["tgt"].Hook = (call, _) =>
        {
            if (call.Op == DriverOp.Write)
            {
                copied.TrySetResult();
            }
            return ValueTask.CompletedTask;
        };

        var snapshotRead = ReadAsync(reader, 2 * Cluster, Cluster);
        Task write;
        bool writtenWhileRead;
        try
        {
            await readStarted.Task.WaitAsync(Ct);
            write = guest.WriteAsync(2 * Cluster, BlockAssert.Pattern(Cluster, 3), ct: Ct).AsTask();
            await copied.Task.WaitAsync(Ct);
            // The old data is safe in the target, but the disk still holds it for the reader.
            writtenWhileRead = t.Memory["disk"].CallsOf(DriverOp.Write).Any();
        }
        finally
        {
            // Released whatever happened: closing the graph drains the read.
            release.TrySetResult();
        }
        Assert.False(writtenWhileRead, "the guest write reached the disk during a snapshot read of it");
        Assert.All(await snapshotRead, b => Assert.Equal(0xA1, b));
        await write;
        Assert.Equal(BlockAssert.Pattern(Cluster, 3), await ReadAsync(guest, 2 * Cluster, Cluster));
        Assert.All(await ReadAsync(reader, 2 * Cluster, Cluster), b => Assert.Equal(0xA1, b));
    }

    [Fact]
    public async Task Discarded_clusters_leave_the_view_and_are_not_copied_any_more()
    {
        var (t, guest, reader) = await SetUpAsync();
        await using var _ = t;

        // Whole clusters only: [Cluster/2, 3 Cluster) releases clusters 1 and 2.
        await reader.DiscardAsync(Cluster / 2, 3 * Cluster - Cluster / 2, Ct);

        var error = await Assert.ThrowsAsync<BlockException>(() => ReadAsync(reader, Cluster, 512));
        Assert.Equal(EAccess, error.Errno);
        await Assert.ThrowsAsync<BlockException>(() => ReadAsync(reader, 0, 2 * Cluster));
        Assert.All(await ReadAsync(reader, 0, Cluster), b => Assert.Equal(0xA1, b));
        Assert.All(await ReadAsync(reader, 3 * Cluster, Cluster), b => Assert.Equal(0xA1, b));

        t.Memory["tgt"].ClearLog();
        await guest.WriteAsync(2 * Cluster, BlockAssert.Pattern(4096, 5), ct: Ct);
        Assert.Empty(t.Memory["tgt"].CallsOf(DriverOp.Write));
    }

    [Fact]
    public async Task Writes_through_snapshot_access_are_refused()
    {
        var (t, _, reader) = await SetUpAsync();
        await using var __ = t;

        var error = await Assert.ThrowsAsync<BlockException>(() => reader.WriteAsync(0, new byte[4096], ct: Ct).AsTask());
        Assert.Equal(BlockErrorKind.NotSupported, error.Kind);
        error = await Assert.ThrowsAsync<BlockException>(() => reader.WriteZeroesAsync(0, 4096, ct: Ct).AsTask());
        Assert.Equal(BlockErrorKind.NotSupported, error.Kind);
        Assert.Empty(t.Memory["disk"].CallsOf(DriverOp.Write));
    }

    [Fact]
    public async Task A_broken_snapshot_fails_every_later_read()
    {
        var (t, guest, reader) = await SetUpAsync("break-snapshot");
        await using var _ = t;
        t.Memory["tgt"].Hook = (call, _) => call.Op == DriverOp.Write
            ? throw new BlockException(BlockErrorKind.IoError, "Input/output error") { Errno = 5 }
            : ValueTask.CompletedTask;

        await guest.WriteAsync(0, BlockAssert.Pattern(4096, 1), ct: Ct);

        var error = await Assert.ThrowsAsync<BlockException>(() => ReadAsync(reader, 5 * Cluster, 512));
        Assert.Equal(EAccess, error.Errno);
    }

    [Fact]
    public async Task Over_a_node_without_a_view_every_read_is_unsupported()
    {
        var (t, _, _) = await SetUpAsync();
        await using var __ = t;
        await t.AddAsync(Opt.Node("snapshot-access", "plain", ("file", "tgt")), Ct);
        var reader = t.Attach("plain", ConsistentRead);

        var error = await Assert.ThrowsAsync<BlockException>(() => ReadAsync(reader, 0, 512));
        Assert.Equal(BlockErrorKind.NotSupported, error.Kind);
    }
}
