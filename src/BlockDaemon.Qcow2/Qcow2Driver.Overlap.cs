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
    }

    private string? MetadataAt(long cluster)
    {
        if (cluster == 0)
        {
            return "image header";
        }
        if (Covers(cluster, _header.RefcountTableOffset, (long)_header.RefcountTableClusters << _clusterBits))
        {
            return "refcount table";
        }
        if (Covers(cluster, _map.L1Offset, _map.L1.Length * 8L))
        {
            return "active L1 table";
        }
        if (Covers(cluster, _header.SnapshotsOffset, _snapshotTableBytes))
        {
            return "snapshot table";
        }
        foreach (var snapshot in Snapshots)
        {
            if (Covers(cluster, snapshot.L1TableOffset, snapshot.L1Size * 8L))
            {
                return $"L1 table of snapshot '{snapshot.Name}'";
            }
        }
        _tableClusters ??= CollectTableClusters();
        return _tableClusters.Contains(cluster) ? "an L2 table or refcount block" : null;
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
