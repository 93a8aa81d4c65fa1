using System.Buffers.Binary;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Create;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

/// <summary>What `qemu-img amend -o` asks of a qcow2 image; null leaves a property as it is.</summary>
public sealed record Qcow2Amendment
{
    /// <summary>2 (compat=0.10) or 3 (compat=1.1).</summary>
    public int? Version { get; init; }

    public bool? LazyRefcounts { get; init; }

    public int? RefcountBits { get; init; }

    /// <summary>The new virtual size; 0 or null keeps it (as QEMU reads size=0).</summary>
    public long? Size { get; init; }
}

/// <summary>
/// qcow2_amend_options: upgrade first, then the refcount width, lazy refcounts, the size, and a
/// downgrade last. Unlike QEMU, every refusal it would reach is checked before the first
/// change, so a refused amend leaves the image as it was. Each step keeps the image
/// consistent on its own: a new structure is written to free clusters and made durable, then
/// one header write switches to it.
/// </summary>
public sealed partial class Qcow2Driver
{
    public async ValueTask AmendAsync(Qcow2Amendment amendment, CancellationToken ct)
    {
        int oldVersion = _header.Version;
        int newVersion = amendment.Version ?? oldVersion;
        int oldBits = 1 << _header.RefcountOrder;
        int newBits = amendment.RefcountBits ?? oldBits;
        bool oldLazy = (_header.Compatible & CompatibleFeatures.LazyRefcounts) != 0;
        bool newLazy = amendment.LazyRefcounts ?? oldLazy;
        long newSize = amendment.Size ?? 0;

        if (newBits != oldBits && newVersion < 3)
        {
            throw BlockException.Invalid("Refcount widths other than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
        }
        if (newLazy && !oldLazy && newVersion < 3)
        {
            throw BlockException.Invalid("Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
        }
        if (newSize != 0 && newSize % 512 != 0)
        {
            throw BlockException.Invalid("The new size must be a multiple of 512");
        }
        if (newVersion < oldVersion)
        {
            await CheckDowngradeAsync(newBits, newSize != 0 ? newSize : _size, ct).ConfigureAwait(false);
        }

        if (newVersion > oldVersion)
        {
            await UpgradeAsync(ct).ConfigureAwait(false);
        }
        if (newBits != oldBits)
        {
            await ChangeRefcountWidthAsync(System.Numerics.BitOperations.Log2((uint)newBits), ct).ConfigureAwait(false);
        }
        if (newLazy != oldLazy)
        {
            // Writes here never leave refcounts behind, so the image is clean either way.
            await RewriteHeaderAsync(_header with { Compatible = newLazy ? _header.Compatible | CompatibleFeatures.LazyRefcounts : _header.Compatible & ~CompatibleFeatures.LazyRefcounts }, ct).ConfigureAwait(false);
        }
        if (newSize != 0 && newSize != _size)
        {
            await TruncateAsync(newSize, ct).ConfigureAwait(false);
        }
        if (newVersion < oldVersion)
        {
            await DowngradeAsync(ct).ConfigureAwait(false);
        }
    }

    // qcow2_downgrade's refusals, and ours for zero clusters this code cannot turn into data.
    private async ValueTask CheckDowngradeAsync(int refcountBits, long sizeThen, CancellationToken ct)
    {
        if (refcountBits != 16)
        {
            throw new BlockException(BlockErrorKind.NotSupported, "compat=0.10 requires refcount_bits=16") { Errno = Errno.ENotSup };
        }
        if (HasDataFile)
        {
            throw new BlockException(BlockErrorKind.NotSupported, "Cannot downgrade an image with a data file") { Errno = Errno.ENotSup };
        }
        // Version 2 readers would not know a snapshot's own size or a large VM state matters.
        if (Snapshots.Any(s => s.VmStateSize > uint.MaxValue || (s.DiskSize is { } size && (long)size != sizeThen)))
        {
            throw new BlockException(BlockErrorKind.NotSupported, "Internal snapshots prevent downgrade of image") { Errno = Errno.ENotSup };
        }
        // QEMU lets the compression type go (version 2 has no field for it) and clears the dirty bit.
        ulong blocking = _header.RawIncompatible & ~(ulong)(IncompatibleFeatures.Dirty | IncompatibleFeatures.CompressionType);
        if (blocking != 0)
        {
            throw new BlockException(BlockErrorKind.NotSupported, $"Cannot downgrade an image with incompatible features {CHex(blocking)} set") { Errno = Errno.ENotSup };
        }
        await ExpandZeroClustersAsync(apply: false, ct).ConfigureAwait(false);
    }

    // Version 2 snapshots need not carry the disk size; version 3 ones must (qcow2_upgrade_snapshots).
    private async ValueTask UpgradeAsync(CancellationToken ct)
    {
        await AcquireExclusiveAsync(ct).ConfigureAwait(false);
        try
        {
            await BeginWriteAsync(ct).ConfigureAwait(false);
            if (Snapshots.Any(s => s.DiskSize is null))
            {
                await ReplaceSnapshotTableAsync(Snapshots.Select(s => s.DiskSize is null ? s with { DiskSize = (ulong)_size } : s).ToList(), ct).ConfigureAwait(false);
            }
        }
        finally
        {
            _lock.Release();
        }
        var extensions = _header.Extensions.Where(e => e.Type != HeaderExtensionType.FeatureNameTable).ToList();
        extensions.Add(new HeaderExtension(HeaderExtensionType.FeatureNameTable, Qcow2Creator.FeatureNameTable()));
        var upgraded = _header with { Version = 3, RefcountOrder = 4, Extensions = extensions };
        if (!upgraded.TryWrite(new byte[_clusterSize], out _))
        {
            // As QEMU does when the table does not fit: the header goes without it.
            upgraded = upgraded with { Extensions = _header.Extensions };
        }
        await RewriteHeaderAsync(upgraded, ct).ConfigureAwait(false);
    }

    private async ValueTask DowngradeAsync(CancellationToken ct)
    {
        await AcquireExclusiveAsync(ct).ConfigureAwait(false);
        try
        {
            await BeginWriteAsync(ct).ConfigureAwait(false);
            await ExpandZeroClustersAsync(apply: true, ct).ConfigureAwait(false);
            await FlushMetadataAsync(ct).ConfigureAwait(false);
            await SyncFilesAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
        var downgraded = _header with
        {
            Version = 2,
            RawIncompatible = 0,
            Incompatible = IncompatibleFeatures.None,
            Compatible = CompatibleFeatures.None,
            Autoclear = AutoclearFeatures.None,
            Compression = CompressionType.Zlib,
            Extensions = _header.Extensions.Where(e => e.Type != HeaderExtensionType.FeatureNameTable).ToList(),
        };
        await RewriteHeaderAsync(downgraded, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Version 2 has no zero flag. Without a backing file an unallocated zero cluster reads as
    /// zeroes anyway and becomes a plain unallocated one; a preallocated zero cluster is filled
    /// with zeroes and loses the flag (keeping its COPIED flag, which its refcount still
    /// justifies). Refused, checked with <paramref name="apply"/> false before anything
    /// changes: an unallocated zero cluster over a backing file (it would need a new cluster),
    /// and a preallocated one that another table maps as data (zeroing it would change that
    /// snapshot's data).
    /// </summary>
    private async ValueTask ExpandZeroClustersAsync(bool apply, CancellationToken ct)
    {
        var tables = new List<(ulong L2Offset, int L1Index)>();
        for (int i = 0; i < _map.L1.Length; i++)
        {
            tables.Add((TableEntries.L1Offset(_map.L1[i]), i));
        }
        foreach (var snapshot in Snapshots)
        {
            var l1 = await ReadSnapshotL1Async(snapshot, ct).ConfigureAwait(false);
            for (int i = 0; i < l1.Length; i++)
            {
                tables.Add((TableEntries.L1Offset(l1[i]), i));
            }
        }
        var distinct = new List<(ulong L2Offset, int L1Index)>();
        var seen = new HashSet<ulong>();
        foreach (var t in tables)
        {
            if (t.L2Offset != 0 && seen.Add(t.L2Offset))
            {
                distinct.Add(t);
            }
        }
        var mappedAsData = new HashSet<ulong>();
        var zeroed = new HashSet<ulong>();
        foreach (var (l2Offset, l1Index) in distinct)
        {
            var table = await LoadL2ForWalkAsync(l2Offset, l1Index, ct).ConfigureAwait(false);
            for (int j = 0; j < _map.EntriesPerTable; j++)
            {
                var (entry, _) = _map.ReadEntry(table, j);
                ulong host = entry & TableEntries.OffsetMask;
                if ((entry & TableEntries.Compressed) != 0 || host == 0)
                {
                    if ((entry & TableEntries.Compressed) == 0 && (entry & TableEntries.ZeroFlag) != 0 && _header.BackingFileName is not null)
                    {
                        throw new BlockException(BlockErrorKind.NotSupported,
                            $"Failed to turn zero into data clusters: {Errno.Text(Errno.ENotSup)} ({ImageToolNote} unallocated zero clusters over a backing file)") { Errno = Errno.ENotSup };
                    }
                    continue;
                }
                (((entry & TableEntries.ZeroFlag) != 0) ? zeroed : mappedAsData).Add(host);
            }
        }
        if (zeroed.Overlaps(mappedAsData))
        {
            throw new BlockException(BlockErrorKind.NotSupported,
                $"Failed to turn zero into data clusters: {Errno.Text(Errno.ENotSup)} ({ImageToolNote} a preallocated zero cluster that a snapshot maps as data)") { Errno = Errno.ENotSup };
        }
        if (!apply)
        {
            return;
        }
        var zeroes = new byte[_clusterSize];
        foreach (ulong host in zeroed)
        {
            await _data.WriteAsync((long)host, zeroes, WriteFlags.None, ct).ConfigureAwait(false);
        }
        // The zeroes are on disk before any entry stops saying "zero".
        await SyncFilesAsync(ct).ConfigureAwait(false);
        foreach (var (l2Offset, l1Index) in distinct)
        {
            var table = await LoadL2ForWalkAsync(l2Offset, l1Index, ct).ConfigureAwait(false);
            for (int j = 0; j < _map.EntriesPerTable; j++)
            {
                var (entry, bitmap) = _map.ReadEntry(table, j);
                if ((entry & TableEntries.Compressed) == 0 && (entry & TableEntries.ZeroFlag) != 0)
                {
                    ulong host = entry & TableEntries.OffsetMask;
                    _map.WriteEntry(table, j, host == 0 ? 0 : entry & ~TableEntries.ZeroFlag, bitmap);
                }
            }
        }
    }

    private const string ImageToolNote = "not implemented for";

    /// <summary>The refcount structure rewritten at another width, switched to by one header write.</summary>
    private async ValueTask ChangeRefcountWidthAsync(int refcountOrder, CancellationToken ct)
    {
        await AcquireExclusiveAsync(ct).ConfigureAwait(false);
        try
        {
            await BeginWriteAsync(ct).ConfigureAwait(false);
            await FlushMetadataAsync(ct).ConfigureAwait(false);
            await SyncFilesAsync(ct).ConfigureAwait(false);
            var (tableOffset, tableClusters) = await Check.Qcow2Checker.WriteRefcountStructureAsync(_file, refcountOrder, ct).ConfigureAwait(false);
            var switched = _header with { RefcountTableOffset = tableOffset, RefcountTableClusters = tableClusters, RefcountOrder = refcountOrder };
            // Bytes 48..100 hold the table's offset and size and the width: one write switches all three.
            var fixedPart = new byte[Qcow2Header.V3Length];
            switched.WriteFixed(fixedPart);
            await _file.WriteAsync(48, fixedPart.AsMemory(48, 52), WriteFlags.None, ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
            _header = switched;
            var tableBytes = new byte[(long)tableClusters << _clusterBits];
            await _file.ReadAsync((long)tableOffset, tableBytes, ct).ConfigureAwait(false);
            var table = new ulong[tableBytes.Length / 8];
            for (int i = 0; i < table.Length; i++)
            {
                table[i] = BinaryPrimitives.ReadUInt64BigEndian(tableBytes.AsSpan(i * 8));
            }
            AttachRefcounts(new RefcountStore(_file, _clusterBits, refcountOrder, table, tableOffset,
                (_file.Length + _clusterSize - 1) >> _clusterBits, _refcounts.Cache.Capacity));
            _tableClusters = null;
            _compressedTail = 0;
            _map.Reload(_refcounts, _map.L1);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Writes the whole header cluster from <paramref name="wanted"/> once everything else is durable.</summary>
    private async ValueTask RewriteHeaderAsync(Qcow2Header wanted, CancellationToken ct)
    {
        await AcquireExclusiveAsync(ct).ConfigureAwait(false);
        try
        {
            var cluster = new byte[_clusterSize];
            if (!wanted.TryWrite(cluster, out var written))
            {
                throw BlockException.Invalid("The image header does not fit in its first cluster");
            }
            await FlushMetadataAsync(ct).ConfigureAwait(false);
            await SyncFilesAsync(ct).ConfigureAwait(false);
            await _file.WriteAsync(0, cluster, WriteFlags.None, ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
            _header = written;
        }
        finally
        {
            _lock.Release();
        }
    }
}
