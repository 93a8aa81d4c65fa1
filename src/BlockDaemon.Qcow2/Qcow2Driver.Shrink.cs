using BlockDaemon.Core.Errors;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

/// <summary>
/// Shrinking, as QEMU 7.2's qcow2_co_truncate does it: the guest clusters past the new end are
/// fully discarded (their entries cleared, their references dropped), L1 entries past the end
/// are cleared and their L2 tables freed (the L1 table keeps its size, as in QEMU), refcount
/// blocks that count nothing leave the refcount table, and the image file loses the tail no
/// cluster is used in. Internal snapshots keep their own references, so they stay intact.
/// </summary>
public sealed partial class Qcow2Driver
{
    private async ValueTask ShrinkAsync(long length, CancellationToken ct)
    {
        long keptL1 = L1EntriesFor(length);
        // QEMU frees what a shrink cuts off with QCOW2_DISCARD_ALWAYS: discarded whatever the
        // pass-discard options say, by the flush that drops the references.
        await DiscardTailAsync(length, keptL1, ct).ConfigureAwait(false);
        for (long i = keptL1; i < _map.L1.Length; i++)
        {
            if (_map.L1[i] == 0)
            {
                continue;
            }
            ulong l2Offset = TableEntries.L1Offset(_map.L1[i]);
            _map.SetL1(i, 0);
            if (l2Offset != 0)
            {
                _refcounts.FreeLater((long)(l2Offset >> _clusterBits), 1, FreeReason.Always);
            }
        }
        // The cleared entries reach the disk before the references they held are dropped.
        await FlushMetadataAsync(ct).ConfigureAwait(false);
        await _refcounts.DropUnusedBlocksAsync(ct).ConfigureAwait(false);
        await FlushMetadataAsync(ct).ConfigureAwait(false);
        _tableClusters = null;
        await TruncateUnusedTailAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Clears the L2 entries of the guest clusters from the first whole cluster past
    /// <paramref name="length"/> to the old end. The L2 table that keeps entries below the new
    /// end is made the active L1's own first (allocated when missing, copied when a snapshot
    /// shares it), as QEMU's get_cluster_table does, so the image matches what qsd leaves.
    /// Tables wholly past the end are only read: they are freed with their L1 entries.
    /// </summary>
    private async ValueTask DiscardTailAsync(long length, long keptL1, CancellationToken ct)
    {
        long first = (length + _clusterSize - 1) >> _clusterBits;
        long end = (_size + _clusterSize - 1) >> _clusterBits;
        long perTable = _map.EntriesPerTable;
        for (long t = first / perTable; first < end && t < _map.L1.Length && t * perTable < end; t++)
        {
            BeginOperation();
            long from = Math.Max(first, t * perTable);
            long to = Math.Min(end, (t + 1) * perTable);
            var table = t < keptL1
                ? await _map.TableForWriteAsync(from, ct).ConfigureAwait(false)
                : await _map.TableAtAsync(t, ct).ConfigureAwait(false);
            if (table is null)
            {
                continue;
            }
            for (long c = from; c < to; c++)
            {
                int index = (int)(c - t * perTable);
                var (entry, bitmap) = _map.ReadEntry(table, index);
                if (entry == 0 && bitmap == 0)
                {
                    continue;
                }
                if (t < keptL1)
                {
                    _map.WriteEntry(table, index, 0, 0);
                }
                ReleaseOld(entry, 0, FreeReason.Always);
            }
        }
    }

    /// <summary>
    /// Cuts the image file after the last cluster in use, as QEMU does after a shrink. A failure
    /// here leaves a valid image with some unused space, so QEMU only warns; so do we (silently:
    /// the resize itself succeeded).
    /// </summary>
    private async ValueTask TruncateUnusedTailAsync(CancellationToken ct)
    {
        long fileLength = _file.Length;
        long last = await _refcounts.LastUsedClusterAsync((fileLength + _clusterSize - 1) >> _clusterBits, ct).ConfigureAwait(false);
        if (last < 0)
        {
            throw Qcow2Errors.Corrupt("There are no references in the refcount table.");
        }
        long newLength = (last + 1) << _clusterBits;
        if (newLength >= fileLength)
        {
            return;
        }
        try
        {
            await _file.TruncateAsync(newLength, ct).ConfigureAwait(false);
        }
        catch (BlockException)
        {
            return;
        }
        _refcounts.FileTruncated(last + 1);
    }
}
