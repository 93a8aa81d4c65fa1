using System.Buffers.Binary;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;
using BlockDaemon.Qcow2.Snapshots;

namespace BlockDaemon.Qcow2;

/// <summary>
/// Internal snapshots (QEMU's qcow2_snapshot_create / qcow2_snapshot_delete). Every step is
/// ordered so that a crash leaves at worst leaked clusters: references are counted before
/// anything on disk points at them, and dropped only once nothing on disk does.
/// </summary>
public sealed partial class Qcow2Driver
{
    // Bytes of the snapshot table on disk, as QEMU counts them (up to the last entry's name).
    private long _snapshotTableBytes;

    public IReadOnlyList<ImageSnapshot> ListSnapshots()
    {
        if (HasDataFile)
        {
            // As in QEMU: an image with an external data file keeps no internal snapshots.
            throw new BlockException(BlockErrorKind.NotSupported, "Internal snapshots are not supported with an external data file") { Errno = Errno.ENotSup };
        }
        return Snapshots.Select(ToImageSnapshot).ToList();
    }

    public async ValueTask<ImageSnapshot> CreateSnapshotAsync(NewSnapshot snapshot, CancellationToken ct)
    {
        await AcquireExclusiveAsync(ct).ConfigureAwait(false);
        try
        {
            if (Snapshots.Count >= Qcow2Limits.MaxSnapshots)
            {
                throw new BlockException(BlockErrorKind.InvalidArgument, "Too many snapshots") { Errno = Errno.EFBig };
            }
            if (HasDataFile)
            {
                // The snapshot could not keep the external data file's clusters from changing.
                throw new BlockException(BlockErrorKind.NotSupported, "Internal snapshots are not supported with an external data file") { Errno = Errno.ENotSup };
            }
            await BeginWriteAsync(ct).ConfigureAwait(false);
            // Starting from clean metadata, the L1 copy below equals what is on disk.
            await FlushMetadataAsync(ct).ConfigureAwait(false);

            ulong l1Offset = await WriteL1CopyAsync(ct).ConfigureAwait(false);
            try
            {
                await AddSnapshotReferencesAsync(ct).ConfigureAwait(false);
            }
            catch (BlockException)
            {
                await ReleaseClustersNowAsync(l1Offset, _map.L1.Length * 8L, ct).ConfigureAwait(false);
                throw;
            }
            // Raised refcounts reach the disk before the cleared COPIED flags, and both before
            // the snapshot table names the new L1 table.
            await FlushMetadataAsync(ct).ConfigureAwait(false);

            var entry = new SnapshotEntry
            {
                Id = SnapshotTable.NextId(Snapshots),
                Name = snapshot.Name,
                L1TableOffset = l1Offset,
                L1Size = (uint)_map.L1.Length,
                DateSeconds = snapshot.DateSeconds,
                DateNanoseconds = snapshot.DateNanoseconds,
                VmClockNanoseconds = snapshot.VmClockNanoseconds,
                VmStateSize = 0,
                DiskSize = (ulong)_size,
                Icount = snapshot.Icount,
            };
            await ReplaceSnapshotTableAsync([.. Snapshots, entry], ct).ConfigureAwait(false);
            return ToImageSnapshot(entry);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async ValueTask<ImageSnapshot> DeleteSnapshotAsync(SnapshotSelector selector, CancellationToken ct)
    {
        await AcquireExclusiveAsync(ct).ConfigureAwait(false);
        try
        {
            int index = selector.IndexIn(Snapshots, s => s.Id, s => s.Name);
            if (index < 0)
            {
                throw new BlockException(BlockErrorKind.NotFound, "Can't find the snapshot") { Errno = Errno.ENoEnt };
            }
            var snapshot = Snapshots[index];
            if (HasDataFile)
            {
                // Data clusters in an external file have no refcounts for a snapshot to hold.
                throw new BlockException(BlockErrorKind.NotSupported, "Internal snapshots are not supported with an external data file") { Errno = Errno.ENotSup };
            }
            ValidateSnapshotL1(snapshot);
            if (_node.ReadOnly)
            {
                // Where QEMU fails: writing the new table to a read-only image.
                throw new BlockException(BlockErrorKind.ReadOnly, "Failed to remove snapshot from snapshot list: " + Errno.Text(Errno.EPerm)) { Errno = Errno.EPerm };
            }
            await BeginWriteAsync(ct).ConfigureAwait(false);
            await FlushMetadataAsync(ct).ConfigureAwait(false);

            // First the table stops naming the snapshot; from then on its clusters are leaked
            // until their references are dropped, never freed while still referenced.
            var remaining = Snapshots.Where((_, i) => i != index).ToList();
            await Step("Failed to remove snapshot from snapshot list", () => ReplaceSnapshotTableAsync(remaining, ct)).ConfigureAwait(false);
            await Step("Failed to free the cluster and L1 table", async () =>
            {
                var l1 = await ReadSnapshotL1Async(snapshot, ct).ConfigureAwait(false);
                await DropSnapshotReferencesAsync(l1, ct).ConfigureAwait(false);
                FreeLater(snapshot.L1TableOffset, snapshot.L1Size * 8L);
                await FlushMetadataAsync(ct).ConfigureAwait(false);
            }).ConfigureAwait(false);
            // Clusters that only the active image references now may be written in place again.
            await Step("Failed to update snapshot status in disk", async () =>
            {
                await RestoreCopiedFlagsAsync(ct).ConfigureAwait(false);
                await FlushMetadataAsync(ct).ConfigureAwait(false);
            }).ConfigureAwait(false);
            return ToImageSnapshot(snapshot);
        }
        finally
        {
            _lock.Release();
        }
    }

    private static ImageSnapshot ToImageSnapshot(SnapshotEntry s) =>
        new(s.Id, s.Name, (long)s.VmStateSize, s.DateSeconds, s.DateNanoseconds, (long)s.VmClockNanoseconds,
            s.Icount is { } icount && icount >= 0 ? icount : null);

    // QEMU's qcow2_validate_table for the snapshot's L1 table, with its messages.
    private void ValidateSnapshotL1(SnapshotEntry snapshot)
    {
        if (snapshot.L1Size > Qcow2Limits.MaxL1Bytes / 8)
        {
            throw new BlockException(BlockErrorKind.Corrupt, "Snapshot L1 table too large") { Errno = Errno.EFBig };
        }
        if (long.MaxValue - snapshot.L1Size * 8L < (long)Math.Min(snapshot.L1TableOffset, long.MaxValue)
            || snapshot.L1TableOffset > long.MaxValue || (snapshot.L1TableOffset & (ulong)(_clusterSize - 1)) != 0)
        {
            throw new BlockException(BlockErrorKind.Corrupt, "Snapshot L1 table offset invalid") { Errno = Errno.EInval };
        }
    }

    /// <summary>Copies the active L1 table (as it is, flags included, as QEMU does) to new clusters.</summary>
    private async ValueTask<ulong> WriteL1CopyAsync(CancellationToken ct)
    {
        long bytes = _map.L1.Length * 8L;
        if (bytes == 0)
        {
            return 0;
        }
        long clusters = (bytes + _clusterSize - 1) >> _clusterBits;
        long start = await _refcounts.AllocateAsync(clusters, ct).ConfigureAwait(false);
        _refcounts.MarkUsed(start, clusters);
        await _file.EnsureLengthAsync(_refcounts.EndCluster << _clusterBits, ct).ConfigureAwait(false);
        var table = new byte[bytes];
        for (int i = 0; i < _map.L1.Length; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan(i * 8), _map.L1[i]);
        }
        ulong offset = (ulong)start << _clusterBits;
        await _file.WriteAsync((long)offset, table, WriteFlags.None, ct).ConfigureAwait(false);
        return offset;
    }

    private async ValueTask<ulong[]> ReadSnapshotL1Async(SnapshotEntry snapshot, CancellationToken ct)
    {
        long bytes = snapshot.L1Size * 8L;
        var l1 = new ulong[snapshot.L1Size];
        if (bytes == 0)
        {
            return l1;
        }
        if ((long)snapshot.L1TableOffset + bytes > _file.Length)
        {
            throw new BlockException(BlockErrorKind.Corrupt, $"The L1 table of snapshot '{snapshot.Name}' lies beyond the end of the image file") { Errno = Errno.EIo };
        }
        var raw = new byte[bytes];
        await _file.ReadAsync((long)snapshot.L1TableOffset, raw, ct).ConfigureAwait(false);
        for (int i = 0; i < l1.Length; i++)
        {
            l1[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan(i * 8));
        }
        return l1;
    }

    /// <summary>
    /// QEMU's qcow2_write_snapshots: the new table goes to new clusters, is made durable with
    /// its refcounts, then one header write switches nb_snapshots and snapshots_offset
    /// together; the old table is freed last. An empty table is recorded at offset 0.
    /// </summary>
    private async ValueTask ReplaceSnapshotTableAsync(List<SnapshotEntry> entries, CancellationToken ct)
    {
        byte[] table = SnapshotTable.Encode(entries);
        ulong offset = 0;
        if (table.Length > 0)
        {
            long clusters = (table.Length + _clusterSize - 1) >> _clusterBits;
            long start = await _refcounts.AllocateAsync(clusters, ct).ConfigureAwait(false);
            _refcounts.MarkUsed(start, clusters);
            offset = (ulong)start << _clusterBits;
            await _file.EnsureLengthAsync(_refcounts.EndCluster << _clusterBits, ct).ConfigureAwait(false);
            await _file.WriteAsync((long)offset, table, WriteFlags.None, ct).ConfigureAwait(false);
        }
        await FlushMetadataAsync(ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);

        // nb_snapshots (60) and snapshots_offset (64) are adjacent: one write switches both.
        var fields = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(fields, (uint)entries.Count);
        BinaryPrimitives.WriteUInt64BigEndian(fields.AsSpan(4), offset);
        await _file.WriteAsync(60, fields, WriteFlags.None, ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);

        ulong oldOffset = _header.SnapshotsOffset;
        long oldBytes = _snapshotTableBytes;
        _header = _header with { SnapshotCount = (uint)entries.Count, SnapshotsOffset = offset };
        Snapshots = entries;
        _snapshotTableBytes = table.Length;
        FreeLater(oldOffset, oldBytes);
        await FlushMetadataAsync(ct).ConfigureAwait(false);
    }

    // Drops the references to a byte range's clusters once the metadata on disk no longer holds it.
    private void FreeLater(ulong offset, long bytes)
    {
        if (offset == 0 || bytes <= 0)
        {
            return;
        }
        long first = (long)(offset >> _clusterBits);
        long last = (long)((offset + (ulong)bytes - 1) >> _clusterBits);
        // QEMU frees snapshot tables and L1 copies as QCOW2_DISCARD_SNAPSHOT.
        _refcounts.FreeLater(first, last - first + 1, FreeReason.Snapshot);
    }

    // Gives back clusters that nothing on disk refers to yet (an aborted operation's allocation).
    private async ValueTask ReleaseClustersNowAsync(ulong offset, long bytes, CancellationToken ct)
    {
        if (offset == 0 || bytes <= 0)
        {
            return;
        }
        long first = (long)(offset >> _clusterBits);
        long last = (long)((offset + (ulong)bytes - 1) >> _clusterBits);
        for (long c = first; c <= last; c++)
        {
            await _refcounts.AddAsync(c, -1, ct).ConfigureAwait(false);
        }
    }

    // Runs one step of a deletion; a failure is reported as QEMU words it ("what: strerror").
    private static async ValueTask Step(string what, Func<ValueTask> step)
    {
        try
        {
            await step().ConfigureAwait(false);
        }
        catch (BlockException e)
        {
            string reason = e.Errno != 0 ? Errno.Text(e.Errno) : e.Message;
            throw new BlockException(e.Kind, $"{what}: {reason}", e) { Errno = e.Errno };
        }
    }
}
