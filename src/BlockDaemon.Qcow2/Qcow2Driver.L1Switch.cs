using System.Buffers.Binary;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;

namespace BlockDaemon.Qcow2;

public sealed partial class Qcow2Driver
{
    /// <summary>
    /// Puts <paramref name="l1"/> on disk as a new active L1 table in fresh clusters and points
    /// the header at it: the table and all metadata are flushed first, then one header write
    /// switches l1_size and l1_table_offset together, so a crash leaves either table whole.
    /// Returns the new table's offset; the caller updates the in-memory map and frees the old.
    /// </summary>
    private async ValueTask<ulong> WriteL1AndSwitchAsync(ulong[] l1, CancellationToken ct)
    {
        long bytes = l1.Length * 8L;
        long clusters = (bytes + _clusterSize - 1) >> _clusterBits;
        long start = await _refcounts.AllocateAsync(clusters, ct).ConfigureAwait(false);
        _refcounts.MarkUsed(start, clusters);
        await _file.EnsureLengthAsync(_refcounts.EndCluster << _clusterBits, ct).ConfigureAwait(false);
        var table = new byte[clusters << _clusterBits];
        for (int i = 0; i < l1.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan(i * 8), l1[i]);
        }
        ulong offset = (ulong)start << _clusterBits;
        await _file.WriteAsync((long)offset, table, WriteFlags.None, ct).ConfigureAwait(false);
        await FlushMetadataAsync(ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
        // l1_size (36) and l1_table_offset (40) are adjacent: one write switches both.
        var fields = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(fields, (uint)l1.Length);
        BinaryPrimitives.WriteUInt64BigEndian(fields.AsSpan(4), offset);
        await _file.WriteAsync(36, fields, WriteFlags.None, ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
        return offset;
    }
}
