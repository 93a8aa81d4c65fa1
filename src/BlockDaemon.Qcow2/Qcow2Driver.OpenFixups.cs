using System.Buffers.Binary;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

/// <summary>
/// What qcow2_do_open changes in an image it opens read-write, done here once the node holds
/// its permissions (the graph calls <see cref="CompleteOpenAsync"/> after computing them; during
/// <c>OpenAsync</c> the file child may not be written yet).
/// </summary>
public sealed partial class Qcow2Driver
{
    // Autoclear bits QEMU 7.2 knows (QCOW2_AUTOCLEAR_MASK); every other one is cleared at open.
    private const AutoclearFeatures QemuKnownAutoclear = AutoclearFeatures.Bitmaps | AutoclearFeatures.DataFileRaw;

    public async ValueTask CompleteOpenAsync(CancellationToken ct)
    {
        if (_node.ReadOnly)
        {
            await LoadBitmapsAsync(ct).ConfigureAwait(false);
            return;
        }
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            BeginOperation();
            // Autoclear bits nobody here knows: the data they describe may go stale, so clear
            // them as qsd does.
            if (IsV3 && (_header.Autoclear & ~QemuKnownAutoclear) != 0)
            {
                await WriteAutoclearAsync(_header.Autoclear & QemuKnownAutoclear, ct).ConfigureAwait(false);
            }
            if ((_header.Incompatible & IncompatibleFeatures.Dirty) != 0)
            {
                await RepairDirtyImageAsync(ct).ConfigureAwait(false);
            }
        }
        finally
        {
            _lock.Release();
        }
        await LoadBitmapsAsync(ct).ConfigureAwait(false);
    }

    private async ValueTask WriteAutoclearAsync(AutoclearFeatures autoclear, CancellationToken ct)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, (ulong)autoclear);
        await _file.WriteAsync(88, bytes, WriteFlags.None, ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
        _header = _header with { Autoclear = autoclear };
    }

    /// <summary>
    /// The dirty bit says refcounts may be stale (lazy refcounts, then a crash): rebuild them
    /// before any allocation trusts them, then clear the bit, as qemu does on open.
    /// </summary>
    private async ValueTask RepairDirtyImageAsync(CancellationToken ct)
    {
        var result = await Check.Qcow2Checker.CheckAsync(_file, repair: true, ct).ConfigureAwait(false);
        if (result.Corruptions > result.CorruptionsFixed)
        {
            throw Qcow2Errors.Corrupt("Could not repair dirty image: " + string.Join("; ", result.Messages.Take(3)));
        }
        var fields = new byte[12];
        await _file.ReadAsync(48, fields, ct).ConfigureAwait(false);
        ulong tableOffset = BinaryPrimitives.ReadUInt64BigEndian(fields);
        uint tableClusters = BinaryPrimitives.ReadUInt32BigEndian(fields.AsSpan(8));
        var tableBytes = new byte[(long)tableClusters << _clusterBits];
        await _file.ReadAsync((long)tableOffset, tableBytes, ct).ConfigureAwait(false);
        var table = new ulong[tableBytes.Length / 8];
        for (int i = 0; i < table.Length; i++)
        {
            table[i] = BinaryPrimitives.ReadUInt64BigEndian(tableBytes.AsSpan(i * 8));
        }
        var l1Bytes = new byte[_map.L1.Length * 8];
        await _file.ReadAsync((long)_map.L1Offset, l1Bytes, ct).ConfigureAwait(false);
        var l1 = new ulong[_map.L1.Length];
        for (int i = 0; i < l1.Length; i++)
        {
            l1[i] = BinaryPrimitives.ReadUInt64BigEndian(l1Bytes.AsSpan(i * 8));
        }
        AttachRefcounts(new RefcountStore(_file, _clusterBits, _header.RefcountOrder, table, tableOffset,
            (_file.Length + _clusterSize - 1) >> _clusterBits, _refcounts.Cache.Capacity));
        _tableClusters = null;
        _map.Reload(_refcounts, l1);
        ulong incompatible = _header.RawIncompatible & ~(ulong)IncompatibleFeatures.Dirty;
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, incompatible);
        await _file.WriteAsync(72, bytes, WriteFlags.None, ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
        _header = _header with
        {
            RawIncompatible = incompatible,
            Incompatible = (IncompatibleFeatures)incompatible,
            RefcountTableOffset = tableOffset,
            RefcountTableClusters = tableClusters,
        };
    }
}
