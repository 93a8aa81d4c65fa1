using BlockDaemon.Core.Drivers.CopyOnRead;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Drivers;

/// <summary>
/// copy-on-read: reads of data from the backing chain write it into the file node (whole
/// clusters, zeroes as zeroes, only down to "bottom"), and a guest write through the filter is
/// never overwritten by the old data a copy read just before it.
/// </summary>
public sealed class CopyOnReadTests
{
    private const int Cluster = 64 << 10;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // base (memory, 0xB0 everywhere) <- mid (cow over midfile) <- top (cow over topfile), with
    // mid holding cluster 2 (0x2A); a copy-on-read node "cor" over top, a user on it.
    private static async Task<(TestGraph T, BlockChild Guest, CopyOnReadDriver Cor)> SetUpAsync(string? bottom)
    {
        var t = new TestGraph();
        t.Graph.RegisterDriver(new CopyOnReadDriverFactory());
        t.Graph.RegisterDriver(new CowFactory());
        await t.AddAsync(Opt.Memory("base", ("size", 1L << 20)), Ct);
        t.Memory["base"].Data.Fill(0xB0);
        await t.AddAsync(Opt.Memory("midfile", ("size", 1L << 20)), Ct);
        await t.AddAsync(Opt.Node("cow", "mid", ("file", "midfile"), ("backing", "base")), Ct);
        await t.AddAsync(Opt.Memory("topfile", ("size", 1L << 20)), Ct);
        await t.AddAsync(Opt.Node("cow", "top", ("file", "topfile"), ("backing", "mid")), Ct);
        var mid = (CowDriver)t.Graph.GetNode("mid").Driver;
        t.Memory["midfile"].Data.Slice(2 * Cluster, Cluster).Fill(0x2A);
        mid.MarkAllocated(2 * Cluster, Cluster);
        var options = bottom is null
            ? Opt.Node("copy-on-read", "cor", ("file", "top"))
            : Opt.Node("copy-on-read", "cor", ("file", "top"), ("bottom", bottom));
        var node = await t.AddAsync(options, Ct);
        var guest = t.Attach("cor", ConsistentRead | Write);
        return (t, guest, (CopyOnReadDriver)node.Driver);
    }

    private static CowDriver Top(TestGraph t) => (CowDriver)t.Graph.GetNode("top").Driver;

    [Fact]
    public async Task A_read_from_the_backing_chain_is_copied_into_the_file_node_by_whole_clusters()
    {
        var (t, guest, _) = await SetUpAsync(bottom: null);
        await using var _ = t;
        var buffer = new byte[4096];

        await guest.ReadAsync(2 * Cluster + 100, buffer, Ct);

        Assert.All(buffer, b => Assert.Equal(0x2A, b));
        Assert.True(Top(t).IsAllocated(2 * Cluster, Cluster));
        Assert.False(Top(t).IsAllocated(Cluster, Cluster));
        Assert.All(t.Memory["topfile"].Data.Slice(2 * Cluster, Cluster).ToArray(), b => Assert.Equal(0x2A, b));

        // Without a bottom, base's data is copied up too.
        await guest.ReadAsync(5 * Cluster, buffer, Ct);
        Assert.True(Top(t).IsAllocated(5 * Cluster, Cluster));
        Assert.All(t.Memory["topfile"].Data.Slice(5 * Cluster, Cluster).ToArray(), b => Assert.Equal(0xB0, b));
    }

    [Fact]
    public async Task With_a_bottom_only_data_down_to_it_is_copied()
    {
        var (t, guest, cor) = await SetUpAsync(bottom: "mid");
        await using var _ = t;
        var buffer = new byte[3 * Cluster];

        await guest.ReadAsync(Cluster, buffer, Ct);

        Assert.Same(t.Graph.GetNode("mid"), cor.Bottom);
        Assert.All(buffer.AsSpan(0, Cluster).ToArray(), b => Assert.Equal(0xB0, b));
        Assert.All(buffer.AsSpan(Cluster, Cluster).ToArray(), b => Assert.Equal(0x2A, b));
        Assert.False(Top(t).IsAllocated(Cluster, Cluster));
        Assert.True(Top(t).IsAllocated(2 * Cluster, Cluster));
        Assert.False(Top(t).IsAllocated(3 * Cluster, Cluster));
    }

    [Fact]
    public async Task With_a_bottom_the_links_down_to_it_are_frozen_until_the_filter_closes()
    {
        var (t, guest, cor) = await SetUpAsync(bottom: "mid");
        await using var _ = t;
        var top = t.Graph.GetNode("top");
        var mid = t.Graph.GetNode("mid");

        Assert.True(cor.File.Frozen);
        Assert.True(BlockGraph.ChainChildOf(top)!.Frozen);
        Assert.False(BlockGraph.ChainChildOf(mid)!.Frozen);
        // A chain walk goes through the filter to the node it filters.
        Assert.Same(top, BlockGraph.ChainNextOf(t.Graph.GetNode("cor")));
        var e = await Assert.ThrowsAsync<BlockException>(() => t.Graph.ReopenAsync(
            [Opt.Node("cow", "top", ("file", "topfile"), ("backing", "base"))], Ct).AsTask());
        Assert.Equal("Cannot change frozen 'backing' link from 'top' to 'mid'", e.Message);
        Assert.Same(mid, BlockGraph.BackingOf(top));

        t.Graph.DetachUser((BlockUser)guest.Parent);
        await t.Graph.DeleteNodeAsync("cor", Ct);

        Assert.False(BlockGraph.ChainChildOf(top)!.Frozen);
        await t.Graph.ReopenAsync([Opt.Node("cow", "top", ("file", "topfile"), ("backing", "base"))], Ct);
        Assert.Same(t.Graph.GetNode("base"), BlockGraph.BackingOf(top));
    }

    [Fact]
    public async Task Zeroes_from_the_backing_chain_are_written_as_zeroes()
    {
        var (t, guest, _) = await SetUpAsync(bottom: null);
        await using var _ = t;
        t.Memory["base"].Data.Slice(7 * Cluster, Cluster).Clear();
        t.Memory["topfile"].Data.Slice(7 * Cluster, Cluster).Fill(0xEE);

        await guest.ReadAsync(7 * Cluster, new byte[512], Ct);

        Assert.Contains(t.Memory["topfile"].CallsOf(DriverOp.WriteZeroes), c => c.Offset == 7 * Cluster && c.Length == Cluster);
        Assert.DoesNotContain(t.Memory["topfile"].CallsOf(DriverOp.Write), c => c.Offset == 7 * Cluster);
        Assert.All(t.Memory["topfile"].Data.Slice(7 * Cluster, Cluster).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task A_guest_write_waits_for_a_copy_of_its_cluster_and_is_not_overwritten()
    {
        var (t, guest, cor) = await SetUpAsync(bottom: null);
        await using var _ = t;
        var copyWriting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool guestWroteDuringCopy = false;
        t.Memory["topfile"].Hook = async (call, ct) =>
        {
            if (call.Op == DriverOp.Write && call.Offset == 4 * Cluster && call.Length == Cluster)
            {
                copyWriting.TrySetResult();
                await release.Task.WaitAsync(ct);
            }
            else if (call.Op == DriverOp.Write && !release.Task.IsCompleted)
            {
                guestWroteDuringCopy = true;
            }
        };

        var read = guest.ReadAsync(4 * Cluster, new byte[4096], Ct).AsTask();
        await copyWriting.Task.WaitAsync(Ct);
        var data = BlockAssert.Pattern(4096, 5);
        var write = guest.WriteAsync(4 * Cluster + 8192, data, ct: Ct).AsTask();
        await Task.Yield();
        Assert.False(write.IsCompleted);
        Assert.Equal(1, cor.LockedRanges);

        release.SetResult();
        await Task.WhenAll(read, write);

        Assert.False(guestWroteDuringCopy);
        Assert.Equal(data, t.Memory["topfile"].Data.Slice(4 * Cluster + 8192, 4096).ToArray());
        Assert.All(t.Memory["topfile"].Data.Slice(4 * Cluster, 8192).ToArray(), b => Assert.Equal(0xB0, b));
        Assert.Equal(0, cor.LockedRanges);
    }

    [Fact]
    public async Task Reads_of_data_the_file_node_holds_copy_nothing()
    {
        var (t, guest, _) = await SetUpAsync(bottom: null);
        await using var _ = t;
        await guest.WriteAsync(0, BlockAssert.Pattern(Cluster, 3), ct: Ct);
        t.Memory["topfile"].ClearLog();

        var buffer = new byte[Cluster];
        await guest.ReadAsync(0, buffer, Ct);

        Assert.Equal(BlockAssert.Pattern(Cluster, 3), buffer);
        Assert.Empty(t.Memory["topfile"].CallsOf(DriverOp.Write));
    }

    [Fact]
    public async Task A_read_only_file_node_is_refused()
    {
        await using var t = new TestGraph();
        t.Graph.RegisterDriver(new CopyOnReadDriverFactory());
        await t.AddAsync(Opt.Memory("disk", ("read-only", true)), Ct);

        var e = await Assert.ThrowsAsync<BlockException>(() => t.AddAsync(Opt.Node("copy-on-read", "cor", ("file", "disk")), Ct).AsTask());

        Assert.Equal("Block node is read-only", e.Message);
        Assert.Null(t.Graph.FindNode("cor"));
    }

    [Fact]
    public async Task A_bottom_that_does_not_exist_is_refused()
    {
        await using var t = new TestGraph();
        t.Graph.RegisterDriver(new CopyOnReadDriverFactory());
        await t.AddAsync(Opt.Memory("disk"), Ct);

        var e = await Assert.ThrowsAsync<BlockException>(() => t.AddAsync(Opt.Node("copy-on-read", "cor", ("file", "disk"), ("bottom", "nope")), Ct).AsTask());

        Assert.Equal("Bottom node 'nope' not found", e.Message);
    }

    // A minimal copy-on-write format: data in "file", a cluster map of what this layer holds, the
    // rest read from "backing" (or zeroes), writes allocate.
    private sealed class CowFactory : IBlockDriverFactory
    {
        public string DriverName => "cow";

        public bool HasFileChild => true;

        public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
        {
            var file = await context.OpenChildAsync("file", "file", ct);
            var backing = context.Options.Contains("backing") ? await context.OpenChildAsync("backing", "backing", ct) : null;
            return new CowDriver(file, backing);
        }
    }

    private sealed class CowDriver(BlockChild file, BlockChild? backing) : IBlockDriver, IBackingLink, IImageInfoSource
    {
        public ImageInfo GetImageInfo() => new() { ClusterSize = Cluster };

        private readonly bool[] _allocated = new bool[(file.Length + Cluster - 1) / Cluster];

        public BlockChild? Backing { get; private set; } = backing;

        public void MarkAllocated(long offset, long length)
        {
            for (long c = offset / Cluster; c < (offset + length + Cluster - 1) / Cluster; c++)
            {
                _allocated[c] = true;
            }
        }

        public bool IsAllocated(long offset, long length)
        {
            for (long c = offset / Cluster; c < (offset + length + Cluster - 1) / Cluster; c++)
            {
                if (!_allocated[c])
                {
                    return false;
                }
            }
            return true;
        }

        public void ReplaceBacking(BlockChild? backing) => Backing = backing;

        public ValueTask WriteBackingFileAsync(string? fileName, string? format, CancellationToken ct) =>
            throw new NotSupportedException("the test driver keeps no header");

        public string DriverName => "cow";
        public DriverLimits Limits { get; } = new() { RequestAlignment = 512, SupportsWriteZeroes = true };
        public long Length => file.Length;
        public string DisplayName => "cow";
        public long? AllocatedBytes => null;

        public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
        {
            for (long pos = offset; pos < offset + buffer.Length;)
            {
                long end = Math.Min((pos / Cluster + 1) * Cluster, offset + buffer.Length);
                var part = buffer.Slice((int)(pos - offset), (int)(end - pos));
                if (_allocated[pos / Cluster])
                {
                    await file.ReadAsync(pos, part, ct);
                }
                else if (Backing is { } below)
                {
                    await below.ReadAsync(pos, part, ct);
                }
                else
                {
                    part.Span.Clear();
                }
                pos = end;
            }
        }

        public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
        {
            await file.WriteAsync(offset, data, flags, ct);
            MarkAllocated(offset, data.Length);
        }

        public async ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct)
        {
            await file.WriteZeroesAsync(offset, length, flags, ct);
            MarkAllocated(offset, length);
        }

        public ValueTask DiscardAsync(long offset, long length, CancellationToken ct) => ValueTask.CompletedTask;

        public ValueTask FlushAsync(CancellationToken ct) => file.FlushAsync(ct);

        public ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct)
        {
            bool allocated = _allocated[offset / Cluster];
            long end = offset;
            while (end < offset + length && _allocated[end / Cluster] == allocated)
            {
                end = (end / Cluster + 1) * Cluster;
            }
            end = Math.Min(end, offset + length);
            return ValueTask.FromResult(new BlockStatus(end - offset, allocated ? BlockStatusFlags.Data | BlockStatusFlags.Allocated : BlockStatusFlags.None));
        }

        public ValueTask TruncateAsync(long length, CancellationToken ct) => throw new NotSupportedException();

        public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared) =>
            child.Role == "backing"
                ? (parentPerm & ConsistentRead, All & ~(Write | Resize))
                : ((parentPerm & Passthrough) | ConsistentRead, All);

        public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
        {
        }

        public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
