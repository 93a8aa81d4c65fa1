using System.Buffers.Binary;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;

namespace BlockDaemon.Qcow2;

public sealed partial class Qcow2Driver
{
    /// <summary>QEMU's qcow2_co_truncate without preallocation: grows the L1 table, or shrinks (see ShrinkAsync).</summary>
    public async ValueTask TruncateAsync(long length, CancellationToken ct)
    {
        if (length % 512 != 0)
        {
            throw BlockException.Invalid("The new size must be a multiple of 512");
        }
        await AcquireExclusiveAsync(ct).ConfigureAwait(false);
        try
        {
            // Version 2 snapshots need not record their size, so after a resize nobody would
            // know which size a snapshot had.
            if (!IsV3 && Snapshots.Count > 0)
            {
                throw Qcow2Errors.NotSupported("Can't resize a v2 image which has snapshots");
            }
            CheckBitmapsAllowResize();
            await BeginWriteAsync(ct).ConfigureAwait(false);
            if (length < _size)
            {
                await ShrinkAsync(length, ct).ConfigureAwait(false);
            }
            else
            {
                await GrowAsync(length, ct).ConfigureAwait(false);
            }
            if (_stored.Any(s => !s.KeptAsFound))
            {
                // Stored bitmaps must match the size QEMU sees: new tables, and one header
                // write that switches size and bitmaps together (the node is drained).
                await RewriteBitmapsLockedAsync(_stored.ToList(), length, ct, metadataLockHeld: true).ConfigureAwait(false);
            }
            else
            {
                var sizeBytes = new byte[8];
                BinaryPrimitives.WriteUInt64BigEndian(sizeBytes, (ulong)length);
                await _file.WriteAsync(24, sizeBytes, WriteFlags.None, ct).ConfigureAwait(false);
                await _file.FlushAsync(ct).ConfigureAwait(false);
            }
            _header = _header with { Size = length };
            _size = length;
        }
        finally
        {
            _lock.Release();
        }
    }

    private async ValueTask GrowAsync(long length, CancellationToken ct)
    {
        long neededL1 = L1EntriesFor(length);
        if (neededL1 * 8 > Qcow2Limits.MaxL1Bytes)
        {
            throw BlockException.Invalid("Active L1 table too large");
        }
        // Everything the new L1 table will point to must be on disk before it is.
        await FlushMetadataAsync(ct).ConfigureAwait(false);
        if (neededL1 > _map.L1.Length)
        {
            await GrowL1Async((int)neededL1, ct).ConfigureAwait(false);
        }
        await ZeroPastOldEndAsync(length, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// A shrink keeps the cluster that holds the new end whole, bytes past the end included
    /// (QEMU discards whole clusters only), so growing again would show what the guest wrote
    /// there before. QEMU 7.2 does show it; we zero that part of the cluster first, so the
    /// new area always reads as zeroes, whoever shrank the image.
    /// </summary>
    private async ValueTask ZeroPastOldEndAsync(long length, CancellationToken ct)
    {
        long clusterStart = _size & ~(long)(_clusterSize - 1);
        long end = Math.Min(clusterStart + _clusterSize, length);
        if (clusterStart == _size || end <= _size)
        {
            return;
        }
        var (entry, bitmap) = await _map.LookupAsync(clusterStart >> _clusterBits, ct).ConfigureAwait(false);
        if (await ReadsAsZeroesAsync(entry, bitmap, clusterStart, ct).ConfigureAwait(false))
        {
            return;
        }
        var zeroes = new byte[end - _size];
        if (await ResolveInPlaceAsync(_size, zeroes.Length, ct).ConfigureAwait(false) is { } inPlace)
        {
            foreach (var extent in inPlace)
            {
                await _data.WriteAsync((long)extent.HostOffset, zeroes.AsMemory(0, (int)extent.Length), WriteFlags.None, ct).ConfigureAwait(false);
            }
        }
        else
        {
            await AllocatingWriteAsync(_size, zeroes, WriteFlags.None, ct).ConfigureAwait(false);
        }
        // The zeroes are durable before the header makes them part of the disk.
        await FlushMetadataAsync(ct).ConfigureAwait(false);
        await SyncFilesAsync(ct).ConfigureAwait(false);
    }

    // QEMU's size_to_l1: the L1 entries a guest disk of this size needs.
    private long L1EntriesFor(long length)
    {
        long coveredPerL1 = (long)_map.EntriesPerTable << _clusterBits;
        return (length + coveredPerL1 - 1) / coveredPerL1;
    }

    private async ValueTask GrowL1Async(int entries, CancellationToken ct)
    {
        var l1 = new ulong[entries];
        _map.L1.CopyTo(l1, 0);
        ulong offset = await WriteL1AndSwitchAsync(l1, ct).ConfigureAwait(false);
        long oldClusters = ((long)_map.L1.Length * 8 + _clusterSize - 1) >> _clusterBits;
        if (_map.L1Offset != 0 && _map.L1.Length > 0)
        {
            _refcounts.FreeLater((long)(_map.L1Offset >> _clusterBits), oldClusters);
        }
        _map.ReplaceL1(l1, offset);
        _header = _header with { L1Size = (uint)entries, L1TableOffset = offset };
    }
}
