using System.Buffers.Binary;
using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

// How bitmap bits reach the disk: in place for marks (write-ahead) and sync points, through a
// new directory and one header write for anything that changes the layout.
public sealed partial class Qcow2Driver
{
    /// <summary>
    /// Write-ahead for a guest change of [offset, offset + length): the generic path has set its
    /// bits in memory; any that are not yet durable in a stored bitmap are written and flushed
    /// before the change may reach the disk.
    /// </summary>
    private async ValueTask EnsureBitmapsDurableAsync(long offset, long length, CancellationToken ct)
    {
        var stored = Volatile.Read(ref _stored);
        if (stored.Length == 0 || length <= 0)
        {
            return;
        }
        List<(StoredBitmap Stored, long First, long End)>? missing = null;
        foreach (var s in stored)
        {
            if (s.KeptAsFound)
            {
                continue;
            }
            var live = ResolveLive(s);
            if (!live.Recording)
            {
                continue;
            }
            long first = offset >> live.GranularityBits;
            long end = (offset + length + live.Granularity - 1) >> live.GranularityBits;
            lock (s)
            {
                end = Math.Min(end, s.Durable!.Length);
                if (end > first && !s.Durable.AllSet(first, end - first))
                {
                    (missing ??= []).Add((s, first, end));
                }
            }
        }
        if (missing is null)
        {
            return;
        }
        await _bitmapLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var written = new List<(StoredBitmap, long, byte[])>();
            foreach (var (s, first, end) in missing)
            {
                if (!_stored.Contains(s))
                {
                    continue;
                }
                for (long k = first / BitsPerDataCluster; k <= (end - 1) / BitsPerDataCluster; k++)
                {
                    long from = Math.Max(first, k * BitsPerDataCluster);
                    long to = Math.Min(end, (k + 1) * BitsPerDataCluster);
                    lock (s)
                    {
                        if (to > s.Durable!.Length || s.Durable.AllSet(from, to - from))
                        {
                            continue;
                        }
                    }
                    var data = SnapshotDataCluster(s, k, AheadOf(s, from, to));
                    s.MarkedAhead = true;
                    await _file.WriteAsync((long)s.DataClusters[k], data, WriteFlags.None, ct).ConfigureAwait(false);
                    written.Add((s, k, data));
                }
            }
            await WriteAndFlushDurableAsync(written, ct).ConfigureAwait(false);
        }
        finally
        {
            _bitmapLock.Release();
        }
    }

    // Bits a write-ahead stores set beyond those it needs: the aligned region of
    // WriteAheadRegionBytes of guest disk around [from, to), within one data cluster. A guest
    // writing all over a region then pays one bitmap write and flush for the region instead of one
    // per granule; the disk holds a superset of the bits (what a crash leaves, safe) until the
    // exact bits are stored when the image is closed or made read-only.
    private (long From, long To) AheadOf(StoredBitmap s, long from, long to)
    {
        long region = Math.Max(1, WriteAheadRegionBytes >> ResolveLive(s).GranularityBits);
        long clusterFirst = from / BitsPerDataCluster * BitsPerDataCluster;
        long clusterEnd = Math.Min(clusterFirst + BitsPerDataCluster, s.Durable!.Length);
        return (Math.Max(clusterFirst, from / region * region), Math.Min(clusterEnd, (to + region - 1) / region * region));
    }

    private async ValueTask WriteAndFlushDurableAsync(List<(StoredBitmap, long, byte[])> written, CancellationToken ct)
    {
        if (written.Count == 0)
        {
            return;
        }
        await _file.FlushAsync(ct).ConfigureAwait(false);
        foreach (var (s, k, data) in written)
        {
            lock (s)
            {
                s.Durable!.SetFrom(data, k * BitsPerDataCluster);
            }
        }
    }

    // The bytes of data cluster k as the bitmap has them now (with a frozen bitmap's successor,
    // whose writes the stored bitmap must also cover). The durable record of the cluster is
    // cleared in the same step, so a writer that marks afterwards cannot rely on it until
    // this snapshot is on disk.
    // With an ahead range (a write-ahead), the bits already durable are kept set too, so that
    // earlier write-aheads' regions stay covered.
    private byte[] SnapshotDataCluster(StoredBitmap s, long k, (long From, long To)? ahead = null)
    {
        var data = new byte[_clusterSize];
        long firstBit = k * BitsPerDataCluster;
        lock (s)
        {
            if (ahead is { } range)
            {
                s.Durable!.CopyTo(data, firstBit);
                SetBits(data, range.From - firstBit, range.To - range.From);
            }
            var live = ResolveLive(s);
            var bits = new byte[_clusterSize];
            lock (live.SyncRoot)
            {
                live.Bits.CopyTo(bits, firstBit);
            }
            Or(data, bits);
            if (live.Successor is { } successor && successor.Granularity == live.Granularity)
            {
                lock (successor.SyncRoot)
                {
                    successor.Bits.CopyTo(bits, firstBit);
                }
                Or(data, bits);
            }
            long count = Math.Min(BitsPerDataCluster, s.Durable!.Length - firstBit);
            if (count > 0)
            {
                s.Durable.Reset(firstBit, count);
            }
        }
        return data;
    }

    /// <summary>
    /// A sync point (flush, close, a bitmap command): bits cleared or merged since the last one
    /// and changed flags reach the disk.
    /// </summary>
    public ValueTask SyncAsync(CancellationToken ct) => SyncBitmapsAsync(ct);

    /// <param name="exact">Closing or going read-only: bitmaps with write-ahead regions are stored
    /// with their exact bits, so the next open does not find the regions' extra bits.</param>
    private async ValueTask SyncBitmapsAsync(CancellationToken ct, bool exact = false)
    {
        if (_node.ReadOnly || Volatile.Read(ref _stored).Length == 0)
        {
            return;
        }
        await _bitmapLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var written = new List<(StoredBitmap, long, byte[])>();
            var changes = new List<(StoredBitmap, DirtyBitmap, long)>();
            bool flagsChanged = false;
            foreach (var s in _stored)
            {
                if (s.KeptAsFound)
                {
                    continue;
                }
                var live = ResolveLive(s);
                flagsChanged |= s.Entry.Flags != FlagsFor(live);
                long seen = live.ChangeCount;
                if (ReferenceEquals(live, s.StoredObject) && seen == s.StoredChanges && !(exact && s.MarkedAhead))
                {
                    continue;
                }
                s.MarkedAhead = false;
                for (long k = 0; k < s.DataClusters.Length; k++)
                {
                    var data = SnapshotDataCluster(s, k);
                    await _file.WriteAsync((long)s.DataClusters[k], data, WriteFlags.None, ct).ConfigureAwait(false);
                    written.Add((s, k, data));
                }
                changes.Add((s, live, seen));
            }
            if (written.Count > 0)
            {
                await WriteAndFlushDurableAsync(written, ct).ConfigureAwait(false);
                foreach (var (s, live, seen) in changes)
                {
                    s.StoredObject = live;
                    s.StoredChanges = seen;
                }
            }
            if (flagsChanged)
            {
                await RewriteBitmapsLockedAsync(_stored.ToList(), _size, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            _bitmapLock.Release();
        }
    }

    private static uint FlagsFor(DirtyBitmap live) => live.Recording ? BitmapDirectoryEntry.AutoFlag : 0;

    /// <summary>
    /// Stores <paramref name="list"/> as the image's bitmaps, sized for <paramref name="diskLength"/>:
    /// new tables and data clusters for every consistent bitmap, a new directory, then one header
    /// write that switches to them (with the disk size, so a resize changes both at once); the
    /// old clusters are freed last. Caller holds <see cref="_bitmapLock"/> (or the node is drained).
    /// </summary>
    private async ValueTask RewriteBitmapsLockedAsync(List<StoredBitmap> list, long diskLength, CancellationToken ct, bool metadataLockHeld = false)
    {
        if (!metadataLockHeld)
        {
            await _lock.WaitAsync(ct).ConfigureAwait(false);
        }
        try
        {
            var old = _stored.Select(s => (Stored: s, s.Entry, s.DataClusters, Kept: s.KeptAsFound)).ToList();
            var pending = new List<(StoredBitmap Stored, BitmapDirectoryEntry Entry, ulong[] Clusters, HierarchicalBitmap Durable, List<(long, byte[])> Data)>();
            foreach (var s in list)
            {
                if (s.KeptAsFound)
                {
                    continue;
                }
                var live = ResolveLive(s);
                long bits = live.BitsFor(diskLength);
                long dataBytes = (bits + 7) / 8;
                int tableSize = (int)Math.Max(1, (dataBytes + _clusterSize - 1) >> _clusterBits);
                long tableClusters = ((tableSize * 8L) + _clusterSize - 1) >> _clusterBits;
                long start = await _refcounts.AllocateAsync(tableClusters + tableSize, ct).ConfigureAwait(false);
                _refcounts.MarkUsed(start, tableClusters + tableSize);
                await _file.EnsureLengthAsync(_refcounts.EndCluster << _clusterBits, ct).ConfigureAwait(false);
                var clusters = new ulong[tableSize];
                var table = new byte[tableClusters << _clusterBits];
                for (int i = 0; i < tableSize; i++)
                {
                    clusters[i] = (ulong)(start + tableClusters + i) << _clusterBits;
                    BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan(i * 8), clusters[i]);
                }
                // From here writers that need a bit not yet durable wait for this rewrite (they need
                // _bitmapLock) and then store into the new clusters.
                var data = new List<(long, byte[])>();
                long oldLength;
                lock (s)
                {
                    oldLength = s.Durable!.Length;
                    s.Durable = new HierarchicalBitmap(Math.Max(bits, oldLength));
                }
                for (int k = 0; k < tableSize; k++)
                {
                    var bytes = SnapshotDataCluster(s, k);
                    if ((k + 1L) * BitsPerDataCluster > bits)
                    {
                        ClearBitsFrom(bytes, bits - (k * (long)BitsPerDataCluster));
                    }
                    await _file.WriteAsync((long)clusters[k], bytes, WriteFlags.None, ct).ConfigureAwait(false);
                    data.Add((k, bytes));
                }
                await _file.WriteAsync(start << _clusterBits, table, WriteFlags.None, ct).ConfigureAwait(false);
                var entry = s.Entry with
                {
                    TableOffset = (ulong)start << _clusterBits,
                    TableSize = (uint)tableSize,
                    Flags = FlagsFor(live),
                    ExtraDataSize = 0,
                };
                pending.Add((s, entry, clusters, new HierarchicalBitmap(bits), data));
            }

            // The directory, in the list's order (entries kept as found keep their bytes).
            var entries = list.Select(s => pending.FirstOrDefault(p => p.Stored == s).Entry ?? s.Entry).ToList();
            ulong directoryOffset = 0;
            long directorySize = 0;
            if (entries.Count > 0)
            {
                var directory = new byte[entries.Sum(e => BitmapDirectoryEntry.EncodedLength(System.Text.Encoding.UTF8.GetByteCount(e.Name), 0))];
                int at = 0;
                foreach (var e in entries)
                {
                    at += e.Write(directory.AsSpan(at));
                }
                long dirClusters = (directory.Length + _clusterSize - 1) >> _clusterBits;
                long dirStart = await _refcounts.AllocateAsync(dirClusters, ct).ConfigureAwait(false);
                _refcounts.MarkUsed(dirStart, dirClusters);
                await _file.EnsureLengthAsync(_refcounts.EndCluster << _clusterBits, ct).ConfigureAwait(false);
                directoryOffset = (ulong)dirStart << _clusterBits;
                directorySize = directory.Length;
                await _file.WriteAsync((long)directoryOffset, directory, WriteFlags.None, ct).ConfigureAwait(false);
            }
            // Data, tables, directory and their refcounts durable before the header points at them.
            await FlushMetadataAsync(ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
            await WriteBitmapsHeaderAsync(entries.Count, directorySize, directoryOffset, diskLength, ct).ConfigureAwait(false);

            foreach (var (s, entry, clusters, durable, data) in pending)
            {
                lock (s)
                {
                    foreach (var (k, bytes) in data)
                    {
                        durable.SetFrom(bytes, k * BitsPerDataCluster);
                    }
                    s.Durable = durable;
                    s.Entry = entry;
                    s.DataClusters = clusters;
                }
            }
            foreach (var s in list)
            {
                if (!s.KeptAsFound)
                {
                    s.StoredObject = null;
                }
            }
            Volatile.Write(ref _stored, [.. list]);

            // Free what the old directory held and the new one no longer does.
            foreach (var (s, oldEntry, oldClusters, kept) in old)
            {
                if (kept && list.Contains(s))
                {
                    continue;
                }
                FreeLater(oldEntry.TableOffset, oldEntry.TableSize * 8L);
                foreach (ulong cluster in kept ? await ReadTableOffsetsAsync(oldEntry, ct).ConfigureAwait(false) : oldClusters)
                {
                    if (cluster != 0)
                    {
                        FreeLater(cluster, _clusterSize);
                    }
                }
            }
            if (_oldDirectory is var (offset, size) && size > 0)
            {
                FreeLater(offset, size);
            }
            _oldDirectory = (directoryOffset, directorySize);
            await FlushMetadataAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            if (!metadataLockHeld)
            {
                _lock.Release();
            }
        }
    }

    // Where the directory was last written; freed once a new one replaces it.
    private (ulong Offset, long Size)? _oldDirectory;

    private static void Or(byte[] into, byte[] bits)
    {
        for (int i = 0; i < into.Length; i++)
        {
            into[i] |= bits[i];
        }
    }

    private static void SetBits(byte[] bytes, long first, long count)
    {
        for (long bit = first; bit < first + count; bit++)
        {
            bytes[bit >> 3] |= (byte)(1 << (int)(bit & 7));
        }
    }

    private static void ClearBitsFrom(byte[] bytes, long bit)
    {
        if (bit <= 0)
        {
            Array.Clear(bytes);
            return;
        }
        int whole = (int)(bit / 8);
        if (bit % 8 != 0)
        {
            bytes[whole] &= (byte)((1 << (int)(bit % 8)) - 1);
            whole++;
        }
        if (whole < bytes.Length)
        {
            Array.Clear(bytes, whole, bytes.Length - whole);
        }
    }

    private async ValueTask<ulong[]> ReadTableOffsetsAsync(BitmapDirectoryEntry entry, CancellationToken ct)
    {
        if (entry.TableOffset == 0 || entry.TableSize == 0 || (long)entry.TableOffset + entry.TableSize * 8L > _file.Length)
        {
            return [];
        }
        var bytes = new byte[entry.TableSize * 8L];
        await _file.ReadAsync((long)entry.TableOffset, bytes, ct).ConfigureAwait(false);
        var offsets = new ulong[entry.TableSize];
        for (int i = 0; i < offsets.Length; i++)
        {
            ulong offset = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(i * 8)) & BitmapTableOffsetMask;
            offsets[i] = (offset & (ulong)(_clusterSize - 1)) == 0 && (long)offset < _file.Length ? offset : 0;
        }
        return offsets;
    }

    // One write of the header cluster switches the bitmaps extension, its autoclear bit and the
    // disk size together.
    private async ValueTask WriteBitmapsHeaderAsync(int count, long directorySize, ulong directoryOffset, long diskLength, CancellationToken ct)
    {
        var extensions = _header.Extensions.Where(e => e.Type != HeaderExtensionType.Bitmaps).ToList();
        var autoclear = _header.Autoclear & ~AutoclearFeatures.Bitmaps;
        if (count > 0)
        {
            var ext = new byte[24];
            BinaryPrimitives.WriteUInt32BigEndian(ext, (uint)count);
            BinaryPrimitives.WriteUInt64BigEndian(ext.AsSpan(8), (ulong)directorySize);
            BinaryPrimitives.WriteUInt64BigEndian(ext.AsSpan(16), directoryOffset);
            int at = extensions.FindIndex(e => e.Type == HeaderExtensionType.FeatureNameTable);
            extensions.Insert(at < 0 ? extensions.Count : at + 1, new HeaderExtension(HeaderExtensionType.Bitmaps, ext));
            autoclear |= AutoclearFeatures.Bitmaps;
        }
        var header = _header with { Extensions = extensions, Autoclear = autoclear, Size = diskLength };
        var cluster = new byte[_clusterSize];
        if (!header.TryWrite(cluster, out var written))
        {
            throw Qcow2Errors.Invalid("Cannot update the header: the bitmaps extension does not fit in the header cluster");
        }
        int used = HeaderBytesUsed(cluster);
        await _file.WriteAsync(0, cluster.AsMemory(0, used), WriteFlags.None, ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
        _header = written;
    }

    // The header and its extensions end before the trailing zeroes; writing only up to the
    // next 512-byte boundary after them keeps the switch to one sector in the usual case.
    private static int HeaderBytesUsed(byte[] cluster)
    {
        int last = Array.FindLastIndex(cluster, b => b != 0);
        return Math.Min(cluster.Length, ((last + 1 + 511) / 512 * 512) + 512);
    }
}
