using System.Security.Cryptography;
using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Core.Tests.Bitmaps;

/// <summary>Node dirty bitmaps: marking by the generic path, successors, merge, undo, checks.</summary>
public sealed class DirtyBitmapTests
{
    private const long Size = 1 << 20;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(TestGraph Graph, BlockNode Node, BlockChild Child)> NodeAsync()
    {
        var t = new TestGraph();
        var node = await t.AddAsync(Opt.Memory("m", ("size", Size)), Ct);
        var child = t.Attach("m", BlockPermissions.ConsistentRead | BlockPermissions.Write);
        return (t, node, child);
    }

    [Fact]
    public async Task Writes_zeroes_and_discards_mark_recording_bitmaps_only()
    {
        var (t, node, child) = await NodeAsync();
        await using var _ = t;
        var recording = node.CreateDirtyBitmap("r", 65536);
        var disabled = node.CreateDirtyBitmap("d", 4096);
        node.DisableDirtyBitmap(disabled);

        await child.WriteAsync(70000, new byte[10], ct: Ct);
        await child.WriteZeroesAsync(300000, 512, ct: Ct);

        Assert.Equal(2 * 65536, recording.Count);
        Assert.True(recording.IsDirty(65536));
        Assert.True(recording.IsDirty(4 * 65536));
        Assert.Equal(0, disabled.Count);
        Assert.Equal([disabled, recording], node.DirtyBitmaps);
    }

    [Fact]
    public async Task A_discard_held_by_a_drain_marks_the_bitmaps_recording_when_it_is_let_through()
    {
        var t = new TestGraph();
        await using var _ = t;
        var node = await t.AddAsync(Opt.Memory("m", ("size", Size), ("discard", "unmap")), Ct);
        var child = t.Attach("m", BlockPermissions.ConsistentRead | BlockPermissions.Write);
        var before = node.CreateDirtyBitmap("before", 65536);
        await node.Requests.DrainAsync(Ct);
        var discard = child.DiscardAsync(65536, 65536, Ct).AsTask();
        // A checkpoint while the discard waits: the old bitmap stops, a new one starts.
        node.DisableDirtyBitmap(before);
        var after = node.CreateDirtyBitmap("after", 65536);
        node.Requests.EndDrain();
        await discard;
        Assert.Equal(0, before.Count);
        Assert.Equal(65536, after.Count);
    }

    [Fact]
    public async Task Successor_records_while_frozen_and_reclaim_merges_it_back()
    {
        var (t, node, child) = await NodeAsync();
        await using var _ = t;
        var bitmap = node.CreateDirtyBitmap("b", 65536);
        await child.WriteAsync(0, new byte[512], ct: Ct);

        var successor = node.CreateSuccessor(bitmap);
        Assert.True(bitmap.Busy);
        Assert.True(bitmap.Recording);
        Assert.Throws<BlockException>(() => bitmap.Check());
        Assert.Throws<BlockException>(() => node.CreateSuccessor(bitmap));
        await child.WriteAsync(5 * 65536, new byte[512], ct: Ct);
        Assert.Equal(65536, bitmap.Count);
        Assert.Equal(65536, successor.Count);

        node.ReclaimDirtyBitmap(bitmap);
        Assert.False(bitmap.Busy);
        Assert.Equal(2 * 65536, bitmap.Count);
        Assert.Equal([bitmap], node.DirtyBitmaps);
    }

    [Fact]
    public async Task Abdicate_leaves_only_the_writes_made_while_frozen()
    {
        var (t, node, child) = await NodeAsync();
        await using var _ = t;
        var bitmap = node.CreateDirtyBitmap("b", 65536);
        bitmap.Persistent = true;
        await child.WriteAsync(0, new byte[512], ct: Ct);
        node.CreateSuccessor(bitmap);
        await child.WriteAsync(3 * 65536, new byte[512], ct: Ct);

        var after = node.AbdicateDirtyBitmap(bitmap);
        Assert.Equal("b", after.Name);
        Assert.True(after.Persistent);
        Assert.False(after.Busy);
        Assert.Same(after, node.FindDirtyBitmap("b"));
        Assert.Equal(65536, after.Count);
        Assert.True(after.IsDirty(3 * 65536));
        Assert.Single(node.DirtyBitmaps);
    }

    [Fact]
    public void Merge_across_granularities_covers_every_dirty_byte_and_undo_restores()
    {
        var fine = DirtyBitmap.CreateDetached(512, Size);
        var coarse = DirtyBitmap.CreateDetached(65536, Size);
        fine.Mark(65536 - 512, 1024);
        fine.Mark(Size - 1, 1);
        coarse.Mark(2 * 65536, 1);

        var backup = coarse.MergeFrom(fine);
        Assert.Equal([true, true, true], new[] { coarse.IsDirty(0), coarse.IsDirty(65536), coarse.IsDirty(2 * 65536) });
        Assert.True(coarse.IsDirty(Size - 1));
        Assert.Equal(4 * 65536, coarse.Count);

        coarse.Restore(backup!);
        Assert.Equal(65536, coarse.Count);
        var undo = coarse.Clear();
        Assert.Equal(0, coarse.Count);
        coarse.Restore(undo!);
        Assert.Equal(65536, coarse.Count);
    }

    [Fact]
    public void Merge_refuses_bitmaps_of_other_sizes_in_qsd_words()
    {
        var a = DirtyBitmap.CreateDetached(65536, Size);
        var b = DirtyBitmap.CreateDetached(65536, 2 * Size);
        var e = Assert.Throws<BlockException>(() => a.MergeFrom(b));
        Assert.Equal("Bitmaps are of different sizes (destination size is 1048576, source size is 2097152) and can't be merged", e.Message);
    }

    [Fact]
    public void Sha256_hashes_little_endian_words_as_qemu_serializes_them()
    {
        // qsd 7.2 answers 66687aad... for an empty bitmap of a 1 MiB disk at 4 KiB (256 bits = 4 words).
        Assert.Equal("66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925", DirtyBitmap.CreateDetached(4096, Size).Sha256());
        var bitmap = DirtyBitmap.CreateDetached(65536, Size);
        bitmap.Mark(65536, 1);
        var words = new byte[8];
        words[0] = 2;
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(words)), bitmap.Sha256());
    }

    [Fact]
    public async Task Resize_keeps_bits_and_adds_clean_ones()
    {
        var (t, node, child) = await NodeAsync();
        await using var _ = t;
        var bitmap = node.CreateDirtyBitmap("b", 65536);
        await child.WriteAsync(Size - 512, new byte[512], ct: Ct);
        Assert.Equal(1, bitmap.Bits.Length - bitmap.Bits.NextSet(0));

        var resize = t.Attach("m", BlockPermissions.Resize);
        await resize.TruncateAsync(2 * Size, Ct);
        Assert.Equal(2 * Size, bitmap.DiskLength);
        Assert.Equal(32, bitmap.Bits.Length);
        Assert.Equal(65536, bitmap.Count);
        Assert.True(bitmap.IsDirty(Size - 1));
    }

    [Fact]
    public async Task Names_are_unique_and_bounded_per_node()
    {
        var (t, node, _) = await NodeAsync();
        await using var __ = t;
        node.CreateDirtyBitmap("b", 65536);
        Assert.Equal("Bitmap already exists: b", Assert.Throws<BlockException>(() => node.CreateDirtyBitmap("b", 4096)).Message);
        string longName = new('x', 1024);
        Assert.Equal($"Bitmap name too long: {longName}", Assert.Throws<BlockException>(() => node.CreateDirtyBitmap(longName, 4096)).Message);
        Assert.Equal(65536, node.DefaultBitmapGranularity);
    }

    [Fact]
    public void Readonly_and_inconsistent_checks_use_qsd_texts()
    {
        var bitmap = DirtyBitmap.CreateDetached(65536, Size);
        bitmap.AddBusyUser();
        Assert.Equal("Bitmap '' is currently in use by another operation and cannot be used", Assert.Throws<BlockException>(() => bitmap.Check()).Message);
        bitmap.RemoveBusyUser();
        bitmap.Check();
    }
}
