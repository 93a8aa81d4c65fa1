using System.Runtime.CompilerServices;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

public sealed partial class Qcow2Driver
{
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        long inCluster = offset & (_clusterSize - 1);
        if (inCluster + buffer.Length <= _clusterSize && !_map.ExtendedL2)
        {
            // Within one cluster (most guest requests): one extent, no list to build.
            Extent single;
            await _lock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                _map.Cache.BeginOperation();
                var (entry, _) = await _map.LookupAsync(offset >> _clusterBits, ct).ConfigureAwait(false);
                single = Classify(entry, offset, inCluster, buffer.Length);
            }
            finally
            {
                _lock.Release();
            }
            await ReadExtentAsync(single, buffer, ct).ConfigureAwait(false);
            return;
        }
        List<Extent> extents;
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _map.Cache.BeginOperation();
            extents = await ResolveAsync(offset, buffer.Length, ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
        foreach (var extent in extents)
        {
            var part = buffer.Slice((int)(extent.GuestOffset - offset), (int)extent.Length);
            await ReadExtentAsync(extent, part, ct).ConfigureAwait(false);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadExtentAsync(Extent extent, Memory<byte> part, CancellationToken ct)
    {
        switch (extent.Kind)
        {
            case ExtentKind.Data:
                CheckHostRange(extent.HostOffset, part.Length, _data);
                _file.RaiseDebugEvent(DebugEvent.ReadAio);
                await _data.ReadAsync((long)extent.HostOffset, part, ct).ConfigureAwait(false);
                break;
            case ExtentKind.Zero:
                part.Span.Clear();
                break;
            case ExtentKind.Unallocated:
                await ReadBackingAsync(extent.GuestOffset, part, ct).ConfigureAwait(false);
                break;
            case ExtentKind.Compressed:
                _file.RaiseDebugEvent(DebugEvent.ReadCompressed);
                var cluster = await DecompressAsync(extent.Entry, ct).ConfigureAwait(false);
                cluster.AsSpan((int)(extent.GuestOffset & (_clusterSize - 1)), part.Length).CopyTo(part.Span);
                break;
        }
    }

    /// <summary>Reads what the backing chain holds at this guest range; zeroes past its end or without one.</summary>
    private async ValueTask ReadBackingAsync(long offset, Memory<byte> part, CancellationToken ct)
    {
        long available = _backing is null ? 0 : Math.Clamp(_backing.Length - offset, 0, part.Length);
        if (available > 0)
        {
            _file.RaiseDebugEvent(DebugEvent.ReadBackingAio);
            await _backing!.ReadAsync(offset, part[..(int)available], ct).ConfigureAwait(false);
        }
        part.Span[(int)available..].Clear();
    }

    private void CheckHostRange(ulong host, long length, Core.Graph.BlockChild file)
    {
        if ((long)host + length > file.Length)
        {
            throw Qcow2Errors.Corrupt($"Data cluster at offset 0x{host:x} is beyond the end of the image file");
        }
    }

    private async ValueTask<byte[]> DecompressAsync(ulong entry, CancellationToken ct)
    {
        byte[]? cached = _decompressedCluster;
        if (cached is not null && _decompressedEntry == entry)
        {
            return cached;
        }
        var (host, length) = TableEntries.CompressedExtent(entry, _clusterBits);
        // The last sector of a compressed cluster may run past the end of the file.
        long readable = Math.Min((long)length, _file.Length - (long)host);
        if ((long)host >= _file.Length || readable <= 0)
        {
            throw Qcow2Errors.Corrupt($"Compressed cluster at offset 0x{host:x} is beyond the end of the image file");
        }
        var input = new byte[readable];
        await _file.ReadAsync((long)host, input, ct).ConfigureAwait(false);
        var output = new byte[_clusterSize];
        Compression.Decompress(_header.Compression, input, output);
        _decompressedCluster = output;
        _decompressedEntry = entry;
        return output;
    }

    /// <summary>Splits a guest range into extents by storage; adjacent compatible extents are merged.</summary>
    private async ValueTask<List<Extent>> ResolveAsync(long offset, long length, CancellationToken ct)
    {
        var extents = new List<Extent>();
        long end = offset + length;
        while (offset < end)
        {
            long cluster = offset >> _clusterBits;
            long inCluster = offset & (_clusterSize - 1);
            long chunk = Math.Min(end - offset, _clusterSize - inCluster);
            long l1Index = cluster / _map.EntriesPerTable;
            if (l1Index >= _map.L1.Length || TableEntries.L1Offset(_map.L1[l1Index]) == 0)
            {
                // No L2 table: its whole span is unallocated, one step instead of one per cluster
                // (a block-status walk over an empty 1 TiB image was 16 million lookups).
                long tableEnd = (l1Index + 1) * _map.EntriesPerTable << _clusterBits;
                long part = Math.Min(end, tableEnd) - offset;
                Add(extents, new Extent(ExtentKind.Unallocated, offset, part, 0, 0));
                offset += part;
                continue;
            }
            var (entry, bitmap) = await _map.LookupAsync(cluster, ct).ConfigureAwait(false);
            if (_map.ExtendedL2 && (entry & TableEntries.Compressed) == 0)
            {
                ResolveSubclusters(extents, entry, bitmap, offset, chunk);
            }
            else
            {
                Add(extents, Classify(entry, offset, inCluster, chunk));
            }
            offset += chunk;
        }
        return extents;
    }

    private Extent Classify(ulong entry, long guest, long inCluster, long length)
    {
        if ((entry & TableEntries.Compressed) != 0)
        {
            return new Extent(ExtentKind.Compressed, guest, length, 0, entry & ~TableEntries.Copied);
        }
        ulong host = entry & TableEntries.OffsetMask;
        if (IsV3 && (entry & TableEntries.ZeroFlag) != 0)
        {
            // A preallocated zero cluster keeps its host cluster; QEMU reports where it is.
            return new Extent(ExtentKind.Zero, guest, length, IsAllocated(entry) ? host + (ulong)inCluster : 0, 0);
        }
        if (!IsAllocated(entry))
        {
            return new Extent(ExtentKind.Unallocated, guest, length, 0, 0);
        }
        CheckAlignedForRead(host, guest);
        return new Extent(ExtentKind.Data, guest, length, host + (ulong)inCluster, entry);
    }

    // QEMU's words when a read meets an unaligned data cluster: where its L2 entry is.
    private void CheckAlignedForRead(ulong host, long guest)
    {
        if ((host & (ulong)(_clusterSize - 1)) != 0)
        {
            long cluster = guest >> _clusterBits;
            ulong l2Offset = TableEntries.L1Offset(_map.L1[cluster / _map.EntriesPerTable]);
            long index = cluster % _map.EntriesPerTable;
            throw Qcow2Errors.Corrupt(
                $"Cluster allocation offset 0x{host:x} unaligned (L2 offset: 0x{l2Offset:x}, L2 index: {(index == 0 ? "0" : $"0x{index:x}")})");
        }
    }

    private void CheckAligned(ulong host)
    {
        if ((host & (ulong)(_clusterSize - 1)) != 0)
        {
            throw Qcow2Errors.Corrupt($"Cluster allocation offset 0x{host:x} unaligned");
        }
    }

    private void ResolveSubclusters(List<Extent> extents, ulong entry, ulong bitmap, long offset, long length)
    {
        uint allocated = TableEntries.AllocatedBits(bitmap);
        uint zero = TableEntries.ZeroBits(bitmap);
        if ((allocated & zero) != 0)
        {
            throw Qcow2Errors.Corrupt("Subcluster is marked both allocated and zero");
        }
        ulong host = entry & TableEntries.OffsetMask;
        if (allocated != 0 && !IsAllocated(entry))
        {
            throw Qcow2Errors.Corrupt("Allocated subclusters in a cluster without a host offset");
        }
        if (host != 0)
        {
            CheckAlignedForRead(host, offset);
        }
        int subSize = _clusterSize / TableEntries.SubclustersPerCluster;
        long clusterStart = offset & ~(long)(_clusterSize - 1);
        long end = offset + length;
        while (offset < end)
        {
            int sub = (int)((offset - clusterStart) / subSize);
            long subEnd = Math.Min(end, clusterStart + (long)(sub + 1) * subSize);
            long part = subEnd - offset;
            if ((allocated >> sub & 1) != 0)
            {
                Add(extents, new Extent(ExtentKind.Data, offset, part, host + (ulong)(offset - clusterStart), entry));
            }
            else
            {
                // Subclusters of an allocated cluster keep their place in it even when they read as zero or fall through.
                ulong place = IsAllocated(entry) ? host + (ulong)(offset - clusterStart) : 0;
                Add(extents, new Extent((zero >> sub & 1) != 0 ? ExtentKind.Zero : ExtentKind.Unallocated, offset, part, place, 0));
            }
            offset = subEnd;
        }
    }

    private static void Add(List<Extent> extents, Extent next)
    {
        if (extents.Count > 0)
        {
            var last = extents[^1];
            bool adjacent = last.Kind == next.Kind && last.GuestOffset + last.Length == next.GuestOffset;
            bool mergeable = next.Kind switch
            {
                ExtentKind.Data => last.HostOffset + (ulong)last.Length == next.HostOffset,
                ExtentKind.Compressed => last.Entry == next.Entry,
                _ => (last.HostOffset == 0 && next.HostOffset == 0) || (last.HostOffset != 0 && last.HostOffset + (ulong)last.Length == next.HostOffset),
            };
            if (adjacent && mergeable)
            {
                extents[^1] = last with { Length = last.Length + next.Length };
                return;
            }
        }
        extents.Add(next);
    }

    public async ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct)
    {
        List<Extent> extents;
        bool metadataPreallocated;
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _map.Cache.BeginOperation();
            metadataPreallocated = await IsMetadataPreallocatedAsync(ct).ConfigureAwait(false);
            // One L2 table's worth at most: enough to answer, cheap to resolve.
            long span = Math.Min(length, ((long)_map.EntriesPerTable << _clusterBits) - (offset & (((long)_map.EntriesPerTable << _clusterBits) - 1)));
            extents = await ResolveAsync(offset, span, ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
        var first = extents[0];
        var flags = first.Kind switch
        {
            ExtentKind.Data or ExtentKind.Compressed => BlockStatusFlags.Data | BlockStatusFlags.Allocated,
            ExtentKind.Zero => BlockStatusFlags.Zero | BlockStatusFlags.Allocated,
            _ => _backing is null ? BlockStatusFlags.Zero : BlockStatusFlags.None,
        };
        long run = first.Length;
        // Compressed clusters are separate extents; report a run of them as one.
        for (int i = 1; i < extents.Count && first.Kind == ExtentKind.Compressed && extents[i].Kind == ExtentKind.Compressed; i++)
        {
            run += extents[i].Length;
        }
        bool mapped = first.Kind == ExtentKind.Data || (first.Kind != ExtentKind.Compressed && first.HostOffset != 0);
        if (mapped && first.Kind == ExtentKind.Data && metadataPreallocated)
        {
            flags |= BlockStatusFlags.Recurse;
        }
        return mapped ? new BlockStatus(run, flags, (long)first.HostOffset, _data.Node) : new BlockStatus(run, flags);
    }
}
