using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

/// <summary>
/// Where metadata lives, so that corrupt refcounts (a table or the header counted as free)
/// stop an allocation instead of letting guest data overwrite the image's structure.
/// </summary>
public sealed partial class Qcow2Driver
{
    // L2 tables and refcount blocks (active and of snapshots); built on first need, dropped
    // when clusters are freed, since a freed table may then be reused legitimately.
    private HashSet<long>? _tableClusters;

    private void AttachRefcounts(RefcountStore refcounts)
    {
        _refcounts = refcounts;
        _refcounts.OnTableMoved = OnRefcountTableMovedAsync;
        _refcounts.MetadataAt = MetadataAt;
        _refcounts.BeforeMetadataWrite = CheckMetadataWrite;
        _map.BeforeMetadataWrite = CheckMetadataWrite;
    }

    // The metadata whose place the header and tables name: (QEMU's name, offset, bytes).
    private IEnumerable<(string Name, ulong Offset, long Bytes)> FixedMetadata()
    {
        yield return (MetadataNames.Header, 0, _clusterSize);
        yield return (MetadataNames.RefcountTable, _header.RefcountTableOffset, (long)_header.RefcountTableClusters << _clusterBits);
        yield return (MetadataNames.ActiveL1, _map.L1Offset, _map.L1.Length * 8L);
        if (Snapshots.Count > 0)
        {
            yield return (MetadataNames.SnapshotTable, _header.SnapshotsOffset, _snapshotTableBytes);
        }
        foreach (var snapshot in Snapshots)
        {
            yield return (MetadataNames.InactiveL1, snapshot.L1TableOffset, snapshot.L1Size * 8L);
        }
    }

    private string? MetadataAt(long cluster)
    {
        foreach (var (name, offset, bytes) in FixedMetadata())
        {
            if (Covers(cluster, offset, bytes))
            {
                return name;
            }
        }
        _tableClusters ??= CollectTableClusters();
        return _tableClusters.Contains(cluster) ? "an L2 table or refcount block" : null;
    }

    // QEMU's overlap check before every metadata write: a table must never land on the header
    // or on another table, whatever the (possibly corrupt) pointers say.
    private void CheckMetadataWrite(ulong offset, long length, string what)
    {
        foreach (var (name, start, bytes) in FixedMetadata())
        {
            if (name != what && bytes > 0 && offset < start + (ulong)bytes && start < offset + (ulong)length)
            {
                throw Qcow2Errors.Corrupt($"Preventing invalid write on metadata (overlaps with {name})");
            }
        }
    }

    private bool Covers(long cluster, ulong offset, long bytes)
    {
        if (bytes <= 0 || offset > long.MaxValue)
        {
            return false;
        }
        long first = (long)(offset >> _clusterBits);
        long last = (long)((offset + (ulong)bytes - 1) >> _clusterBits);
        return cluster >= first && cluster <= last;
    }

    private HashSet<long> CollectTableClusters()
    {
        var set = new HashSet<long>();
        foreach (ulong entry in _map.L1)
        {
            AddCluster(set, TableEntries.L1Offset(entry));
        }
        foreach (ulong entry in _refcounts.Table)
        {
            AddCluster(set, entry & ~TableEntries.RefcountTableReservedMask);
        }
        return set;
    }

    private void AddCluster(HashSet<long> set, ulong offset)
    {
        if (offset != 0)
        {
            set.Add((long)(offset >> _clusterBits));
        }
    }
}
