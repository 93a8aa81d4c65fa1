using System.Buffers.Binary;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2.Create;

/// <summary>
/// Maps every guest cluster of a new image (qcow2's truncate with a preallocation mode) and gives
/// the data clusters their space, as qsd does.
/// </summary>
internal static class Qcow2Preallocation
{
    private const int ZeroChunk = 1 << 20;

    public static async ValueTask WriteAsync(BlockChild file, BlockChild? data, Qcow2CreateOptions o, Qcow2PreallocationLayout layout, CancellationToken ct)
    {
        int cs = 1 << layout.ClusterBits;
        int entryBytes = o.ExtendedL2 ? 16 : 8;
        long lastL2End = (layout.L2Cluster(layout.L2Clusters - 1) + 1) << layout.ClusterBits;
        await file.TruncateAsync(Math.Max(file.Length, Math.Max(layout.FileEnd, lastL2End)), ct).ConfigureAwait(false);
        var l1 = new byte[layout.L1Entries * 8];
        var l2 = new byte[cs];
        for (long t = 0; t < layout.L2Clusters; t++)
        {
            long l2Offset = layout.L2Cluster(t) << layout.ClusterBits;
            BinaryPrimitives.WriteUInt64BigEndian(l1.AsSpan((int)(t * 8)), (ulong)l2Offset | TableEntries.Copied);
            Array.Clear(l2);
            for (long i = 0; i < layout.PerL2; i++)
            {
                long guestCluster = t * layout.PerL2 + i;
                if (guestCluster * cs >= o.Size)
                {
                    break;
                }
                // With extended L2 entries the subcluster bitmap stays clear: the clusters are
                // reserved but not yet written, so reads still go to the backing file.
                BinaryPrimitives.WriteUInt64BigEndian(l2.AsSpan((int)(i * entryBytes)), (ulong)layout.HostOffset(guestCluster) | TableEntries.Copied);
            }
            await file.WriteAsync(l2Offset, l2, WriteFlags.None, ct).ConfigureAwait(false);
        }
        await file.WriteAsync(layout.L1Start << layout.ClusterBits, l1, WriteFlags.None, ct).ConfigureAwait(false);

        if (data is null && o.Preallocation != Preallocation.Metadata)
        {
            // qcow2_co_truncate grows the image file over the data area with the same mode.
            await FillAsync(file, layout.DataStart << layout.ClusterBits, layout.DataClusters << layout.ClusterBits, o.Preallocation, ct).ConfigureAwait(false);
            return;
        }
        // preallocate_co: mapping the last cluster copies the guest's (zero) tail past the image's
        // end into it, then the data target is grown to the mapped end if still shorter.
        var target = data ?? file;
        long lastCluster = (o.Size - 1) / cs;
        int tail = (int)(o.Size % cs);
        if (o.Size > 0 && tail != 0)
        {
            long clusterEnd = layout.HostOffset(lastCluster) + cs;
            if (target.Length < clusterEnd)
            {
                await target.TruncateAsync(clusterEnd, ct).ConfigureAwait(false);
            }
            await target.WriteAsync(layout.HostOffset(lastCluster) + tail, new byte[cs - tail], WriteFlags.None, ct).ConfigureAwait(false);
        }
        if (data is not null && data.Length < o.Size)
        {
            long old = data.Length;
            await data.TruncateAsync(o.Size, ct).ConfigureAwait(false);
            await FillAsync(data, old, o.Size - old, o.Preallocation, ct).ConfigureAwait(false);
        }
    }

    /// <summary>What file-posix does to the part of a file a truncate added: falloc allocates it,
    /// full writes zeroes into it, off and metadata leave it a hole.</summary>
    private static async ValueTask FillAsync(BlockChild target, long offset, long length, Preallocation mode, CancellationToken ct)
    {
        if (length <= 0)
        {
            return;
        }
        if (mode == Preallocation.Falloc)
        {
            await target.WriteZeroesAsync(offset, length, WriteFlags.None, ct).ConfigureAwait(false);
        }
        else if (mode == Preallocation.Full)
        {
            var zeroes = new byte[(int)Math.Min(ZeroChunk, length)];
            for (long at = offset; at < offset + length; at += zeroes.Length)
            {
                int n = (int)Math.Min(zeroes.Length, offset + length - at);
                await target.WriteAsync(at, zeroes.AsMemory(0, n), WriteFlags.None, ct).ConfigureAwait(false);
            }
        }
    }
}
