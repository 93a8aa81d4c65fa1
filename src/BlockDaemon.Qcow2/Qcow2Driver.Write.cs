using System.Runtime.CompilerServices;
using System.Buffers;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

public sealed partial class Qcow2Driver
{
    private const uint AllSubclusters = uint.MaxValue;
    // The hints of a guest write that still apply to its data once it lands in the data file.
    private const WriteFlags DataWriteHints = WriteFlags.WriteBehind | WriteFlags.Inline;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        await EnsureBitmapsDurableAsync(offset, data.Length, ct).ConfigureAwait(false);
        if ((flags & WriteFlags.Compressed) != 0)
        {
            await WriteCompressedAsync(offset, data, ct).ConfigureAwait(false);
            return;
        }
        List<Extent>? inPlace;
        long? unlockedHost = null;
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await BeginWriteAsync(ct).ConfigureAwait(false);
            inPlace = await ResolveInPlaceAsync(offset, data.Length, ct).ConfigureAwait(false);
            if (inPlace is null)
            {
                unlockedHost = await BeginUnlockedAllocationAsync(offset, data.Length, ct).ConfigureAwait(false);
                if (unlockedHost is null)
                {
                    await AllocatingWriteAsync(offset, data, flags & DataWriteHints, ct).ConfigureAwait(false);
                    return;
                }
            }
        }
        finally
        {
            _lock.Release();
        }
        if (unlockedHost is { } host)
        {
            await FinishUnlockedAllocationAsync(host, offset, data, flags & DataWriteHints, ct).ConfigureAwait(false);
            return;
        }
        // Every cluster is ours alone and allocated: overwrite in place, outside the lock.
        foreach (var extent in inPlace!)
        {
            _file.RaiseDebugEvent(DebugEvent.WriteAio);
            await _data.WriteAsync((long)extent.HostOffset, data.Slice((int)(extent.GuestOffset - offset), (int)extent.Length), flags & DataWriteHints, ct).ConfigureAwait(false);
        }
    }

    // Persistent bitmaps are maintained (write-ahead, see Qcow2Driver.Bitmaps), so a change
    // needs no header update first.
    private ValueTask BeginWriteAsync(CancellationToken ct)
    {
        BeginOperation();
        return ValueTask.CompletedTask;
    }

    private void BeginOperation()
    {
        _map.Cache.BeginOperation();
        _refcounts.Cache.BeginOperation();
    }

    /// <summary>The host extents of a write that needs no allocation, or null when some cluster does.</summary>
    private async ValueTask<List<Extent>?> ResolveInPlaceAsync(long offset, long length, CancellationToken ct)
    {
        var extents = new List<Extent>();
        long end = offset + length;
        while (offset < end)
        {
            long cluster = offset >> _clusterBits;
            long inCluster = offset & (_clusterSize - 1);
            long chunk = Math.Min(end - offset, _clusterSize - inCluster);
            var (entry, bitmap) = await _map.LookupAsync(cluster, ct).ConfigureAwait(false);
            if (!IsOwnedData(entry, bitmap))
            {
                return null;
            }
            ulong host = entry & TableEntries.OffsetMask;
            CheckAligned(host);
            Add(extents, new Extent(ExtentKind.Data, offset, chunk, host + (ulong)inCluster, 0));
            offset += chunk;
        }
        return extents;
    }

    // A plain data cluster referenced only by the active L2 table, every subcluster allocated.
    private bool IsOwnedData(ulong entry, ulong bitmap) =>
        (entry & TableEntries.Copied) != 0
        && (entry & TableEntries.Compressed) == 0
        && IsAllocated(entry)
        && (_map.ExtendedL2 ? TableEntries.AllocatedBits(bitmap) == AllSubclusters : !IsV3 || (entry & TableEntries.ZeroFlag) == 0);

    /// <summary>
    /// A write that allocates: clusters that are not owned data get a new host cluster (in runs,
    /// so sequential writes stay contiguous), filled with the old guest view around the new
    /// bytes; then their L2 entries point to them. Runs under the metadata lock.
    /// </summary>
    private async ValueTask AllocatingWriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags dataFlags, CancellationToken ct)
    {
        long end = offset + data.Length;
        long first = offset >> _clusterBits;
        long last = (end - 1) >> _clusterBits;
        var entries = new (ulong Entry, ulong Bitmap)[last - first + 1];
        for (long c = first; c <= last; c++)
        {
            entries[c - first] = await _map.LookupAsync(c, ct).ConfigureAwait(false);
        }
        var hosts = new long[entries.Length];
        var fresh = new bool[entries.Length];
        // Which entries got a new host cluster, and how many mappings already point at theirs:
        // if the write fails, the new clusters nobody references yet are given back.
        var allocated = new bool[entries.Length];
        int mapped = 0;
        try
        {
            await WriteAllocatedAsync(offset, data, dataFlags, first, entries, hosts, fresh, allocated, ct).ConfigureAwait(false);
            for (; mapped < entries.Length; mapped++)
            {
                await SetMappingAsync(first + mapped, entries[mapped].Entry, (ulong)hosts[mapped] | TableEntries.Copied,
                    _map.ExtendedL2 ? TableEntries.MakeBitmap(AllSubclusters, 0) : 0, ct).ConfigureAwait(false);
            }
        }
        catch
        {
            await ReleaseUnmappedAsync(hosts, allocated, mapped).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Gives back the clusters a failed allocating write took and never mapped. Nothing on disk
    /// or in a cached table points at them, so their references drop at once (not after a
    /// flush). They may hold part of the failed write: they stop counting as fresh, so their
    /// next user fills them. Failing here only leaves a leak (what 'qemu-img check -r leaks'
    /// repairs); the write's own error is what the caller must see.
    /// </summary>
    private async ValueTask ReleaseUnmappedAsync(long[] hosts, bool[] allocated, int mapped)
    {
        if (HasDataFile)
        {
            return;
        }
        for (int i = mapped; i < hosts.Length; i++)
        {
            if (!allocated[i])
            {
                continue;
            }
            long cluster = hosts[i] >> _clusterBits;
            _refcounts.MarkUsed(cluster, 1);
            try
            {
                await _refcounts.AddAsync(cluster, -1, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or BlockDaemon.Core.Errors.BlockException)
            {
                return;
            }
        }
    }

    private async ValueTask WriteAllocatedAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags dataFlags, long first, (ulong Entry, ulong Bitmap)[] entries,
        long[] hosts, bool[] fresh, bool[] allocated, CancellationToken ct)
    {
        long end = offset + data.Length;
        for (int i = 0; i < entries.Length;)
        {
            if (ReusableHost(entries[i].Entry, entries[i].Bitmap) is { } reuse)
            {
                hosts[i++] = reuse;
                continue;
            }
            int run = 1;
            while (i + run < entries.Length && ReusableHost(entries[i + run].Entry, entries[i + run].Bitmap) is null)
            {
                run++;
            }
            long start = await AllocateDataAsync(first + i, run, ct).ConfigureAwait(false);
            for (int k = 0; k < run; k++)
            {
                hosts[i + k] = (start + k) << _clusterBits;
                fresh[i + k] = _refcounts.IsFresh(start + k) && !HasDataFile;
                allocated[i + k] = true;
            }
            i += run;
        }
        await GrowFileForAllocationsAsync(ct).ConfigureAwait(false);

        // Clusters that take the new bytes as they are (no copy on write) and lie next to each
        // other on the host go out as one request: a 512 KiB job chunk is one write, not eight.
        var direct = new bool[entries.Length];
        for (int i = 0; i < entries.Length; i++)
        {
            long clusterStart = (first + i) << _clusterBits;
            var (entry, bitmap) = entries[i];
            bool whole = Math.Max(offset, clusterStart) == clusterStart && Math.Min(end, clusterStart + _clusterSize) == clusterStart + _clusterSize;
            direct[i] = IsOwnedData(entry, bitmap) || whole || (fresh[i] && await ReadsAsZeroesAsync(entry, bitmap, clusterStart, ct).ConfigureAwait(false));
        }
        byte[]? scratch = null;
        try
        {
            for (int i = 0; i < entries.Length;)
            {
                long clusterStart = (first + i) << _clusterBits;
                long from = Math.Max(offset, clusterStart);
                if (direct[i])
                {
                    int run = 1;
                    while (i + run < entries.Length && direct[i + run] && hosts[i + run] == hosts[i] + ((long)run << _clusterBits))
                    {
                        run++;
                    }
                    long to = Math.Min(end, (first + i + run) << _clusterBits);
                    for (int k = 0; k < run; k++)
                    {
                        if (fresh[i + k])
                        {
                            // QEMU zeroes the rest of a fresh cluster (handle_alloc_space); the grown
                            // file reads as zeroes already, so only its statistics learn of it.
                            _data.CountZeroFillTo(hosts[i + k] + _clusterSize);
                        }
                    }
                    _file.RaiseDebugEvent(DebugEvent.WriteAio);
                    await _data.WriteAsync(hosts[i] + (from - clusterStart), data.Slice((int)(from - offset), (int)(to - from)), dataFlags, ct).ConfigureAwait(false);
                    for (int k = 0; k < run; k++)
                    {
                        _refcounts.MarkUsed(hosts[i + k] >> _clusterBits, 1);
                    }
                    i += run;
                }
                else
                {
                    long to = Math.Min(end, clusterStart + _clusterSize);
                    var piece = data.Slice((int)(from - offset), (int)(to - from));
                    // Copy on write: the cluster's current guest view around the new bytes.
                    scratch ??= ArrayPool<byte>.Shared.Rent(_clusterSize);
                    var cluster0 = scratch.AsMemory(0, _clusterSize);
                    _file.RaiseDebugEvent(DebugEvent.CowRead);
                    await ReadCurrentViewAsync(clusterStart, cluster0, from, to, ct).ConfigureAwait(false);
                    piece.CopyTo(cluster0[(int)(from - clusterStart)..]);
                    _file.RaiseDebugEvent(DebugEvent.CowWrite);
                    await _data.WriteAsync(hosts[i], cluster0, dataFlags, ct).ConfigureAwait(false);
                    _refcounts.MarkUsed(hosts[i] >> _clusterBits, 1);
                    i++;
                }
            }
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
    }

    /// <summary>The host cluster a write may reuse in place (ours alone, maybe zero-flagged), or null.</summary>
    private long? ReusableHost(ulong entry, ulong bitmap)
    {
        ulong host = entry & TableEntries.OffsetMask;
        if ((entry & TableEntries.Copied) == 0 || (entry & TableEntries.Compressed) != 0 || !IsAllocated(entry))
        {
            return null;
        }
        CheckAligned(host);
        _ = bitmap;
        return (long)host;
    }

    private async ValueTask<long> AllocateDataAsync(long guestCluster, int count, CancellationToken ct)
    {
        if (HasDataFile)
        {
            // External data file: guest and host offsets are the same; it has no refcounts.
            return guestCluster;
        }
        return await _refcounts.AllocateAsync(count, ct).ConfigureAwait(false);
    }

    /// <summary>True when the old view of the cluster is all zeroes (so a fresh cluster needs no fill).</summary>
    private ValueTask<bool> ReadsAsZeroesAsync(ulong entry, ulong bitmap, long clusterStart, CancellationToken ct)
    {
        _ = ct;
        if ((entry & TableEntries.Compressed) != 0)
        {
            return ValueTask.FromResult(false);
        }
        if (_map.ExtendedL2)
        {
            uint zero = TableEntries.ZeroBits(bitmap);
            return ValueTask.FromResult(TableEntries.AllocatedBits(bitmap) == 0 && (zero == AllSubclusters || NoBackingAt(clusterStart)));
        }
        if (IsV3 && (entry & TableEntries.ZeroFlag) != 0)
        {
            return ValueTask.FromResult(true);
        }
        return ValueTask.FromResult(!IsAllocated(entry) && NoBackingAt(clusterStart));
    }

    private bool NoBackingAt(long guestOffset) => _backing is null || _backing.Length <= guestOffset;

    /// <summary>Reads the guest view of a cluster outside [from, to) into <paramref name="cluster"/>.</summary>
    private async ValueTask ReadCurrentViewAsync(long clusterStart, Memory<byte> cluster, long from, long to, CancellationToken ct)
    {
        if (from > clusterStart)
        {
            foreach (var extent in await ResolveAsync(clusterStart, from - clusterStart, ct).ConfigureAwait(false))
            {
                await ReadExtentAsync(extent, cluster.Slice((int)(extent.GuestOffset - clusterStart), (int)extent.Length), ct).ConfigureAwait(false);
            }
        }
        long clusterEnd = clusterStart + _clusterSize;
        if (to < clusterEnd)
        {
            foreach (var extent in await ResolveAsync(to, clusterEnd - to, ct).ConfigureAwait(false))
            {
                await ReadExtentAsync(extent, cluster.Slice((int)(extent.GuestOffset - clusterStart), (int)extent.Length), ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Points a guest cluster at a new entry; references the old entry held are dropped once it is durable.</summary>
    private async ValueTask SetMappingAsync(long guestCluster, ulong oldEntry, ulong newEntry, ulong newBitmap, CancellationToken ct,
        FreeReason reason = FreeReason.Other)
    {
        var table = await _map.TableForWriteAsync(guestCluster, ct).ConfigureAwait(false);
        _map.WriteEntry(table, (int)(guestCluster % _map.EntriesPerTable), newEntry, newBitmap);
        ReleaseOld(oldEntry, newEntry, reason);
    }

    private void ReleaseOld(ulong oldEntry, ulong newEntry, FreeReason reason = FreeReason.Other)
    {
        if (HasDataFile)
        {
            return;
        }
        if ((oldEntry & TableEntries.Compressed) != 0)
        {
            var (host, length) = TableEntries.CompressedExtent(oldEntry, _clusterBits);
            long firstCluster = (long)(host >> _clusterBits);
            long lastCluster = (long)((host + length - 1) >> _clusterBits);
            _refcounts.FreeLater(firstCluster, lastCluster - firstCluster + 1, reason);
            return;
        }
        ulong oldHost = oldEntry & TableEntries.OffsetMask;
        if (oldHost != 0 && oldHost != (newEntry & TableEntries.OffsetMask))
        {
            _refcounts.FreeLater((long)(oldHost >> _clusterBits), 1, reason);
        }
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct)
    {
        await EnsureBitmapsDurableAsync(offset, length, ct).ConfigureAwait(false);
        long end = offset + length;
        long alignedStart = (offset + _clusterSize - 1) & ~(long)(_clusterSize - 1);
        long alignedEnd = end & ~(long)(_clusterSize - 1);
        if (!IsV3 || alignedStart >= alignedEnd)
        {
            await WriteZeroBuffersAsync(offset, length, ct).ConfigureAwait(false);
            return;
        }
        if (offset < alignedStart)
        {
            await WriteZeroBuffersAsync(offset, alignedStart - offset, ct).ConfigureAwait(false);
        }
        await ZeroClustersAsync(alignedStart >> _clusterBits, (alignedEnd - alignedStart) >> _clusterBits,
            unmap: (flags & WriteFlags.MayUnmap) != 0, ct).ConfigureAwait(false);
        if (alignedEnd < end)
        {
            await WriteZeroBuffersAsync(alignedEnd, end - alignedEnd, ct).ConfigureAwait(false);
        }
    }

    public async ValueTask DiscardAsync(long offset, long length, CancellationToken ct)
    {
        await EnsureBitmapsDurableAsync(offset, length, ct).ConfigureAwait(false);
        long end = offset + length;
        long alignedStart = (offset + _clusterSize - 1) & ~(long)(_clusterSize - 1);
        long alignedEnd = end == _size ? (end + _clusterSize - 1) & ~(long)(_clusterSize - 1) : end & ~(long)(_clusterSize - 1);
        if (alignedStart >= alignedEnd)
        {
            return;
        }
        if (IsV3)
        {
            await ZeroClustersAsync(alignedStart >> _clusterBits, (alignedEnd - alignedStart) >> _clusterBits, unmap: true, ct).ConfigureAwait(false);
            return;
        }
        // Version 2 has no zero flag: a discarded cluster would fall through to the backing
        // file and show older data, so with a backing file the (advisory) discard is dropped, as qemu does.
        if (_backing is not null)
        {
            return;
        }
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await BeginWriteAsync(ct).ConfigureAwait(false);
            for (long c = alignedStart >> _clusterBits; c < alignedEnd >> _clusterBits; c++)
            {
                var (entry, _) = await _map.LookupAsync(c, ct).ConfigureAwait(false);
                if (entry != 0)
                {
                    await SetMappingAsync(c, entry, 0, 0, ct, FreeReason.Request).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    private async ValueTask ZeroClustersAsync(long first, long count, bool unmap, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            for (long c = first; c < first + count; c++)
            {
                await BeginWriteAsync(ct).ConfigureAwait(false);
                var (entry, bitmap) = await _map.LookupAsync(c, ct).ConfigureAwait(false);
                ulong host;
                if (DataFileRaw)
                {
                    // The raw data file must always read as the guest disk: zero it there too,
                    // and keep the identity mapping.
                    await _data.WriteZeroesAsync(c << _clusterBits, Math.Min(_clusterSize, _data.Length - (c << _clusterBits)),
                        unmap ? WriteFlags.MayUnmap : WriteFlags.None, ct).ConfigureAwait(false);
                    host = ((ulong)c << _clusterBits) | TableEntries.Copied;
                }
                else
                {
                    bool keep = !unmap && ReusableHost(entry, bitmap) is not null;
                    host = keep ? (entry & TableEntries.OffsetMask) | TableEntries.Copied : 0;
                }
                ulong newEntry, newBitmap;
                if (_map.ExtendedL2)
                {
                    (newEntry, newBitmap) = (host, TableEntries.MakeBitmap(0, AllSubclusters));
                }
                else
                {
                    (newEntry, newBitmap) = (host | TableEntries.ZeroFlag, 0);
                }
                if (newEntry != entry || newBitmap != bitmap)
                {
                    await SetMappingAsync(c, entry, newEntry, newBitmap, ct, FreeReason.Request).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    private async ValueTask WriteZeroBuffersAsync(long offset, long length, CancellationToken ct)
    {
        int chunk = (int)Math.Min(length, 1 << 20);
        byte[] zeroes = ArrayPool<byte>.Shared.Rent(chunk);
        try
        {
            Array.Clear(zeroes, 0, chunk);
            while (length > 0)
            {
                int n = (int)Math.Min(length, chunk);
                await WriteAsync(offset, zeroes.AsMemory(0, n), WriteFlags.None, ct).ConfigureAwait(false);
                offset += n;
                length -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(zeroes);
        }
    }
}
