using System.Buffers.Binary;
using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

/// <summary>
/// Persistent dirty bitmaps, kept crash-safe without ever marking them in use on disk:
/// <list type="bullet">
/// <item>Every stored bitmap has all its data clusters allocated, and the directory on disk
/// never carries the in-use flag, so QEMU can read it at any moment (qemu-img info -U).</item>
/// <item>Write-ahead: the generic path sets a write's bits in memory before the driver sees the
/// write; the driver then makes sure those bits are durable on disk (data cluster overwritten in
/// place, then a flush) before the write goes on. A write-ahead stores the bits of a whole
/// 64 MiB region of guest disk around the write, so only the first write to a region after the
/// bits on disk were last cleared pays it; the check is a lookup in <see cref="StoredBitmap.Durable"/>.
/// The region's extra bits are dropped (the exact bits stored) on close and on going read-only.</item>
/// <item>Clears, merges and flag changes reach the disk at the next flush, sync point or close;
/// until then the disk holds a superset of the bits, which is safe.</item>
/// </list>
/// So after a crash (kill -9) the bitmaps on disk are consistent and contain every write that
/// may have reached the disk. See docs/architecture.md.
/// </summary>
public sealed partial class Qcow2Driver : IPersistentBitmapStore
{
    private const ulong BitmapTableOffsetMask = 0x00ff_ffff_ffff_fe00;
    private const ulong BitmapTableAllOnes = 1;

    // Guards writes of bitmap data, table and directory clusters and changes of _stored; taken before _lock.
    private readonly SemaphoreSlim _bitmapLock = new(1, 1);

    // The directory, in its order on disk; replaced as a whole (the data path reads it without a lock).
    private StoredBitmap[] _stored = [];

    /// <summary>The directory as read at open (validated by the factory).</summary>
    internal IReadOnlyList<BitmapDirectoryEntry> StoredBitmaps { get; init; } = [];

    private int BitsPerDataCluster => _clusterSize * 8;

    // How much guest disk one write-ahead covers at least (see AheadOf).
    private const long WriteAheadRegionBytes = 64L << 20;

    // qcow2_load_dirty_bitmaps: every bitmap of the directory becomes a bitmap of the node; one
    // marked in use (its writer died) is inconsistent and kept on disk as it was.
    private async ValueTask LoadBitmapsAsync(CancellationToken ct)
    {
        if (StoredBitmaps.Count == 0)
        {
            return;
        }
        if (_header.FindExtension(HeaderExtensionType.Bitmaps) is { } ext)
        {
            _oldDirectory = (BinaryPrimitives.ReadUInt64BigEndian(ext.Data.AsSpan(16)), (long)BinaryPrimitives.ReadUInt64BigEndian(ext.Data.AsSpan(8)));
        }
        var list = new List<StoredBitmap>();
        foreach (var entry in StoredBitmaps)
        {
            var live = _node.LoadDirtyBitmap(entry.Name, entry.Granularity, disabled: !entry.Auto, inconsistent: entry.InUse, readOnly: _node.ReadOnly);
            var stored = new StoredBitmap(entry, live) { Loaded = true };
            if (!entry.InUse)
            {
                stored.DataClusters = await ReadBitmapDataAsync(entry, live, ct).ConfigureAwait(false);
                lock (live.SyncRoot)
                {
                    stored.Durable = live.Bits.Clone();
                }
                stored.StoredObject = live;
                stored.StoredChanges = live.ChangeCount;
            }
            list.Add(stored);
        }
        _stored = [.. list];
        if (!_node.ReadOnly && list.Any(s => !s.KeptAsFound))
        {
            // Adopt QEMU's layout (all-zero clusters left unallocated) into ours: every data
            // cluster allocated, so later changes are in-place overwrites.
            await _bitmapLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                await RewriteBitmapsLockedAsync(list, _size, ct).ConfigureAwait(false);
            }
            finally
            {
                _bitmapLock.Release();
            }
        }
    }

    private async ValueTask<ulong[]> ReadBitmapDataAsync(BitmapDirectoryEntry entry, DirtyBitmap live, CancellationToken ct)
    {
        var tableBytes = new byte[entry.TableSize * 8L];
        await _file.ReadAsync((long)entry.TableOffset, tableBytes, ct).ConfigureAwait(false);
        var clusters = new ulong[entry.TableSize];
        var data = new byte[_clusterSize];
        for (int i = 0; i < clusters.Length; i++)
        {
            ulong raw = BinaryPrimitives.ReadUInt64BigEndian(tableBytes.AsSpan(i * 8));
            ulong offset = raw & BitmapTableOffsetMask;
            long firstBit = (long)i * BitsPerDataCluster;
            if (offset == 0)
            {
                if ((raw & BitmapTableAllOnes) != 0)
                {
                    lock (live.SyncRoot)
                    {
                        long count = Math.Min(BitsPerDataCluster, live.Bits.Length - firstBit);
                        if (count > 0)
                        {
                            live.Bits.Set(firstBit, count);
                        }
                    }
                }
                continue;
            }
            if ((offset & (ulong)(_clusterSize - 1)) != 0 || (long)offset >= _file.Length)
            {
                throw Qcow2Errors.Invalid($"Could not read bitmap '{entry.Name}' from image: {Errno.Text(Errno.EInval)}");
            }
            clusters[i] = offset;
            await _file.ReadAsync((long)offset, data, ct).ConfigureAwait(false);
            lock (live.SyncRoot)
            {
                live.Bits.SetFrom(data, firstBit);
            }
        }
        return clusters;
    }

    private void AddBitmapInfo(List<KeyValuePair<string, object?>> specific)
    {
        var stored = Volatile.Read(ref _stored);
        if (stored.Length == 0 || (_header.Autoclear & AutoclearFeatures.Bitmaps) == 0)
        {
            return;
        }
        var list = new List<object?>();
        foreach (var bitmap in stored)
        {
            var flags = new List<object?>();
            if (bitmap.Entry.InUse)
            {
                flags.Add("in-use");
            }
            if (bitmap.Entry.Auto)
            {
                flags.Add("auto");
            }
            list.Add(new List<KeyValuePair<string, object?>>
            {
                new("name", bitmap.Entry.Name),
                new("granularity", bitmap.Entry.Granularity),
                new("flags", flags),
            });
        }
        specific.Add(new("bitmaps", list));
    }

    /// <summary>qcow2_co_can_store_new_dirty_bitmap's checks, in its order and words.</summary>
    public void CheckCanStore(BlockNode node, string name, long granularity)
    {
        if (!IsV3)
        {
            throw BlockException.Invalid("Cannot store dirty bitmaps in qcow2 v2 files");
        }
        int bits = System.Numerics.BitOperations.TrailingZeroCount(granularity);
        if (bits > 31)
        {
            throw BlockException.Invalid("Granularity exceeds maximum (2147483648 bytes)");
        }
        if (bits < 9)
        {
            throw BlockException.Invalid("Granularity is under minimum (512 bytes)");
        }
        long bitmapBytes = (((_size + granularity - 1) >> bits) + 7) / 8;
        if (bitmapBytes > 0x2000_0000 || bitmapBytes > 0x800_0000L * _clusterSize)
        {
            throw BlockException.Invalid("Too much space will be occupied by the bitmap. Use larger granularity");
        }
        if (System.Text.Encoding.UTF8.GetByteCount(name) > 1023)
        {
            throw BlockException.Invalid("Name length exceeds maximum (1023 characters)");
        }
        var persistent = node.DirtyBitmaps.Where(b => b.Persistent && b.Name is not null).ToList();
        long directoryBytes = persistent.Sum(b => (long)BitmapDirectoryEntry.EncodedLength(System.Text.Encoding.UTF8.GetByteCount(b.Name!), 0))
            + BitmapDirectoryEntry.EncodedLength(System.Text.Encoding.UTF8.GetByteCount(name), 0);
        if (persistent.Count + 1 > Qcow2Limits.MaxBitmaps)
        {
            throw BlockException.Invalid("Maximum number of persistent bitmaps is already reached");
        }
        if (directoryBytes > Qcow2Limits.MaxBitmapDirectoryBytes)
        {
            throw BlockException.Invalid("Not enough space in the bitmap directory");
        }
    }

    /// <summary>A new persistent bitmap goes to disk at once, so a crash cannot lose it.</summary>
    public async ValueTask AddAsync(DirtyBitmap bitmap, CancellationToken ct)
    {
        if (_node.ReadOnly)
        {
            return;
        }
        await _bitmapLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var entry = new BitmapDirectoryEntry
            {
                TableOffset = 0,
                TableSize = 0,
                Flags = 0,
                Type = BitmapDirectoryEntry.DirtyTrackingType,
                GranularityBits = (byte)bitmap.GranularityBits,
                Name = bitmap.Name!,
            };
            // qsd appends the bitmaps it stores at close newest first after those it loaded.
            var list = _stored.ToList();
            list.Insert(list.FindLastIndex(s => s.Loaded) + 1, new StoredBitmap(entry, bitmap) { Durable = new HierarchicalBitmap(0) });
            await RewriteBitmapsLockedAsync(list, _size, ct).ConfigureAwait(false);
        }
        finally
        {
            _bitmapLock.Release();
        }
    }

    public async ValueTask RemoveAsync(DirtyBitmap bitmap, CancellationToken ct)
    {
        if (_node.ReadOnly)
        {
            return;
        }
        await _bitmapLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var stored = _stored.FirstOrDefault(s => ReferenceEquals(ResolveLive(s), bitmap));
            if (stored is null)
            {
                return;
            }
            var list = _stored.Where(s => s != stored).ToList();
            await RewriteBitmapsLockedAsync(list, _size, ct).ConfigureAwait(false);
        }
        finally
        {
            _bitmapLock.Release();
        }
    }

    public ValueTask ResizedAsync(CancellationToken ct)
    {
        // The data went to disk at the new size with the header switch (TruncateAsync); the
        // durable copies only need the node's new bit count.
        foreach (var stored in Volatile.Read(ref _stored))
        {
            if (stored.Durable is { } durable)
            {
                lock (stored)
                {
                    stored.Durable = durable.Resized(ResolveLive(stored).BitsFor(_size));
                }
            }
        }
        return ValueTask.CompletedTask;
    }

    // The node's bitmap a stored entry follows: after a job abdicated, the successor has the name.
    private DirtyBitmap ResolveLive(StoredBitmap stored)
    {
        var live = stored.Live;
        if (live.Persistent && live.Name == stored.Entry.Name)
        {
            return live;
        }
        if (_node.FindDirtyBitmap(stored.Entry.Name) is { Persistent: true } current)
        {
            stored.Live = current;
            return current;
        }
        return live;
    }

    // qsd refuses to resize while a stored bitmap is inconsistent or in use (qcow2_truncate_bitmaps_check).
    private void CheckBitmapsAllowResize()
    {
        foreach (var stored in Volatile.Read(ref _stored))
        {
            ResolveLive(stored).Check();
        }
    }
}
