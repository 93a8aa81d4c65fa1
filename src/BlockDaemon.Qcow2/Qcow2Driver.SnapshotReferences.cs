using BlockDaemon.Core.Errors;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

/// <summary>
/// What an L1 table references, counted as QEMU counts it (qcow2_update_snapshot_refcount):
/// once per path, so a data cluster in an L2 table that two L1 tables share counts twice, and
/// the COPIED flag marks exactly the entries whose cluster has refcount 1.
/// </summary>
public sealed partial class Qcow2Driver
{
    /// <summary>
    /// A new snapshot references everything the active L1 table does: one more reference to
    /// each L2 table and to each data or compressed cluster in them. Then nothing is the active
    /// image's alone, so every COPIED flag goes. An increment that would overflow the refcount
    /// width fails with EINVAL (as in QEMU) after undoing the increments made so far.
    /// </summary>
    private async ValueTask AddSnapshotReferencesAsync(CancellationToken ct)
    {
        await AddReferencesAsync(_map.L1, ct).ConfigureAwait(false);

        // Every cluster the active image uses is now shared with the snapshot.
        await SetCopiedFlagsAsync(static (_, _) => ValueTask.FromResult(false), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// One more reference to each L2 table <paramref name="l1"/> points to and to each cluster
    /// in them; all or nothing (an overflow undoes the increments made so far).
    /// </summary>
    private async ValueTask AddReferencesAsync(ulong[] l1, CancellationToken ct)
    {
        var added = new List<long>();
        try
        {
            for (int l1Index = 0; l1Index < l1.Length; l1Index++)
            {
                ulong l1Entry = l1[l1Index];
                ulong l2Offset = TableEntries.L1Offset(l1Entry);
                if (l2Offset == 0)
                {
                    continue;
                }
                var table = await LoadL2ForWalkAsync(l2Offset, l1Index, ct).ConfigureAwait(false);
                for (int j = 0; j < _map.EntriesPerTable; j++)
                {
                    var (entry, _) = _map.ReadEntry(table, j);
                    foreach (long cluster in ReferencedClusters(entry, l2Offset, j))
                    {
                        await IncrementAsync(cluster, added, ct).ConfigureAwait(false);
                    }
                }
                await IncrementAsync((long)(l2Offset >> _clusterBits), added, ct).ConfigureAwait(false);
            }
        }
        catch (BlockException)
        {
            foreach (long cluster in added)
            {
                await _refcounts.AddAsync(cluster, -1, ct).ConfigureAwait(false);
            }
            throw;
        }
    }

    /// <summary>Drops the references a deleted snapshot's L1 table held (freed once the table is gone from disk).</summary>
    private async ValueTask DropSnapshotReferencesAsync(ulong[] l1, CancellationToken ct)
    {
        for (int l1Index = 0; l1Index < l1.Length; l1Index++)
        {
            ulong l1Entry = l1[l1Index];
            ulong l2Offset = TableEntries.L1Offset(l1Entry);
            if (l2Offset == 0)
            {
                continue;
            }
            var table = await LoadL2ForWalkAsync(l2Offset, l1Index, ct).ConfigureAwait(false);
            for (int j = 0; j < _map.EntriesPerTable; j++)
            {
                var (entry, _) = _map.ReadEntry(table, j);
                foreach (long cluster in ReferencedClusters(entry, l2Offset, j))
                {
                    _refcounts.FreeLater(cluster, 1, FreeReason.Snapshot);
                }
            }
            _refcounts.FreeLater((long)(l2Offset >> _clusterBits), 1, FreeReason.Snapshot);
        }
    }

    /// <summary>
    /// Sets COPIED on the active L1 and L2 entries whose cluster has refcount 1 again and clears
    /// it elsewhere (compressed clusters never get it: they are never written in place).
    /// </summary>
    private ValueTask RestoreCopiedFlagsAsync(CancellationToken ct) =>
        SetCopiedFlagsAsync(async (cluster, token) => await _refcounts.GetAsync(cluster, token).ConfigureAwait(false) == 1, ct);

    /// <summary>
    /// Rewrites COPIED on every active L1 and L2 entry: set where <paramref name="soleOwner"/> says
    /// the host cluster is referenced by the active image alone, cleared elsewhere.
    /// </summary>
    private async ValueTask SetCopiedFlagsAsync(Func<long, CancellationToken, ValueTask<bool>> soleOwner, CancellationToken ct)
    {
        for (int i = 0; i < _map.L1.Length; i++)
        {
            ulong l2Offset = TableEntries.L1Offset(_map.L1[i]);
            if (l2Offset == 0)
            {
                continue;
            }
            var table = await LoadL2ForWalkAsync(l2Offset, i, ct).ConfigureAwait(false);
            for (int j = 0; j < _map.EntriesPerTable; j++)
            {
                var (entry, bitmap) = _map.ReadEntry(table, j);
                ulong updated = entry & ~TableEntries.Copied;
                ulong host = entry & TableEntries.OffsetMask;
                if ((entry & TableEntries.Compressed) == 0 && host != 0
                    && await soleOwner((long)(host >> _clusterBits), ct).ConfigureAwait(false))
                {
                    updated |= TableEntries.Copied;
                }
                if (updated != entry)
                {
                    _map.WriteEntry(table, j, updated, bitmap);
                }
            }
            ulong l1Entry = _map.L1[i] & ~TableEntries.Copied;
            if (await soleOwner((long)(l2Offset >> _clusterBits), ct).ConfigureAwait(false))
            {
                l1Entry |= TableEntries.Copied;
            }
            if (l1Entry != _map.L1[i])
            {
                _map.SetL1(i, l1Entry);
            }
        }
    }

    // Each table of a walk is its own cache operation, so a walk over a big image keeps only
    // what fits in the cache instead of pinning every table it visited.
    private async ValueTask<CachedTable> LoadL2ForWalkAsync(ulong l2Offset, int l1Index, CancellationToken ct)
    {
        if ((l2Offset & (ulong)(_clusterSize - 1)) != 0)
        {
            throw new BlockException(BlockErrorKind.Corrupt,
                $"L2 table offset {CHex(l2Offset)} unaligned (L1 index: {CHex((ulong)l1Index)})") { Errno = Errno.EIo };
        }
        BeginOperation();
        return await _map.LoadAsync(l2Offset, ct).ConfigureAwait(false);
    }

    /// <summary>The host clusters an L2 entry holds a reference to: its data cluster, or every cluster a compressed one touches.</summary>
    private List<long> ReferencedClusters(ulong entry, ulong l2Offset, int l2Index)
    {
        var clusters = new List<long>(1);
        if ((entry & TableEntries.Compressed) != 0)
        {
            var (host, length) = TableEntries.CompressedExtent(entry, _clusterBits);
            for (long c = (long)(host >> _clusterBits); c <= (long)((host + length - 1) >> _clusterBits); c++)
            {
                clusters.Add(c);
            }
            return clusters;
        }
        ulong offset = entry & TableEntries.OffsetMask;
        if (offset != 0)
        {
            if ((offset & (ulong)(_clusterSize - 1)) != 0)
            {
                throw new BlockException(BlockErrorKind.Corrupt,
                    $"Cluster allocation offset {CHex(offset)} unaligned (L2 offset: {CHex(l2Offset)}, L2 index: {CHex((ulong)l2Index)})") { Errno = Errno.EIo };
            }
            clusters.Add((long)(offset >> _clusterBits));
        }
        return clusters;
    }

    private async ValueTask IncrementAsync(long cluster, List<long> added, CancellationToken ct)
    {
        if (await _refcounts.GetAsync(cluster, ct).ConfigureAwait(false) >= _refcounts.MaxRefcount)
        {
            throw new BlockException(BlockErrorKind.InvalidArgument,
                $"The refcount of cluster {cluster} cannot grow beyond {_refcounts.MaxRefcount} (refcount_bits={1 << _header.RefcountOrder})") { Errno = Errno.EInval };
        }
        await _refcounts.AddAsync(cluster, 1, ct).ConfigureAwait(false);
        added.Add(cluster);
    }

    // C's "%#x": a 0x prefix, except for zero; QEMU's corruption messages are written with it.
    private static string CHex(ulong value) => value == 0 ? "0" : $"0x{value:x}";
}
