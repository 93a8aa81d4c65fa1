using System.Buffers.Binary;
using BlockDaemon.Core.Graph;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2.Engine;

/// <summary>
/// Guest cluster → L2 entry: the active L1 table (in memory; changed entries written on flush)
/// and L2 tables through a <see cref="TableCache"/>. Callers hold the image's metadata lock.
/// </summary>
internal sealed class ClusterMap
{
    private readonly BlockChild _file;
    private RefcountStore _refcounts;
    private readonly int _clusterBits;
    private readonly int _clusterSize;
    private readonly HashSet<int> _dirtyL1Sectors = [];

    public ClusterMap(BlockChild file, RefcountStore refcounts, int clusterBits, bool extendedL2, ulong[] l1, ulong l1Offset, int cacheTables)
    {
        _file = file;
        _refcounts = refcounts;
        _clusterBits = clusterBits;
        _clusterSize = 1 << clusterBits;
        ExtendedL2 = extendedL2;
        EntryBytes = extendedL2 ? 16 : 8;
        EntriesPerTable = _clusterSize / EntryBytes;
        L1 = l1;
        L1Offset = l1Offset;
        Cache = new TableCache(_clusterSize, cacheTables);
    }

    public bool ExtendedL2 { get; }
    public int EntryBytes { get; }
    public int EntriesPerTable { get; }
    public ulong[] L1 { get; private set; }
    public ulong L1Offset { get; private set; }
    public TableCache Cache { get; }
    public bool L1Dirty => _dirtyL1Sectors.Count > 0;

    /// <summary>Checks a metadata write (offset, length, what) against the other metadata; throws on overlap.</summary>
    public Action<ulong, long, string>? BeforeMetadataWrite { get; set; }

    /// <summary>Evicting a dirty L2 table must first make the refcounts it depends on durable.</summary>
    public Func<CachedTable, CancellationToken, ValueTask>? EvictL2 { get; set; }

    /// <summary>The L2 entry (and extended bitmap) of a guest cluster; zeros when unallocated.</summary>
    public async ValueTask<(ulong Entry, ulong Bitmap)> LookupAsync(long guestCluster, CancellationToken ct)
    {
        long l1Index = guestCluster / EntriesPerTable;
        if (l1Index >= L1.Length)
        {
            return (0, 0);
        }
        ulong l2Offset = TableEntries.L1Offset(L1[l1Index]);
        if (l2Offset == 0)
        {
            return (0, 0);
        }
        CheckTableAligned(l2Offset, l1Index);
        var table = await LoadAsync(l2Offset, ct).ConfigureAwait(false);
        return ReadEntry(table, (int)(guestCluster % EntriesPerTable));
    }

    /// <summary>The L2 table L1 entry <paramref name="l1Index"/> points to, for reading; null when it has none.</summary>
    public async ValueTask<CachedTable?> TableAtAsync(long l1Index, CancellationToken ct)
    {
        ulong l2Offset = TableEntries.L1Offset(L1[l1Index]);
        return l2Offset == 0 ? null : await LoadAsync(l2Offset, ct).ConfigureAwait(false);
    }

    /// <summary>The L2 table for a guest cluster, allocated or copied (when shared with a snapshot) for writing.</summary>
    public async ValueTask<CachedTable> TableForWriteAsync(long guestCluster, CancellationToken ct)
    {
        long l1Index = guestCluster / EntriesPerTable;
        if (l1Index >= L1.Length)
        {
            throw Qcow2Errors.Corrupt($"Guest cluster {guestCluster} is beyond the L1 table");
        }
        ulong l1Entry = L1[l1Index];
        ulong l2Offset = TableEntries.L1Offset(l1Entry);
        if (l2Offset != 0)
        {
            CheckTableAligned(l2Offset, l1Index);
        }
        if (l2Offset != 0 && (l1Entry & TableEntries.Copied) != 0)
        {
            return await LoadAsync(l2Offset, ct).ConfigureAwait(false);
        }
        if (l2Offset == 0 && (l1Entry & TableEntries.Copied) != 0)
        {
            // "Ours alone" with no table: the entry is damaged, and what it meant is unknown.
            throw Qcow2Errors.Corrupt($"L1 entry {l1Index} has the copied flag set but no L2 table offset");
        }
        long cluster = await _refcounts.AllocateAsync(1, ct).ConfigureAwait(false);
        _refcounts.MarkUsed(cluster, 1);
        ulong newOffset = (ulong)cluster << _clusterBits;
        var table = await Cache.GetAsync(newOffset, null, EvictAsync, ct).ConfigureAwait(false);
        if (l2Offset != 0)
        {
            // Shared with a snapshot: the copy holds the same references; the old table loses one.
            var old = await LoadAsync(l2Offset, ct).ConfigureAwait(false);
            old.Data.CopyTo(table.Data, 0);
            _refcounts.FreeLater((long)(l2Offset >> _clusterBits), 1);
        }
        table.Dirty = true;
        SetL1(l1Index, newOffset | TableEntries.Copied);
        return table;
    }

    // QEMU's words for an L1 entry whose table is not cluster-aligned.
    private void CheckTableAligned(ulong l2Offset, long l1Index)
    {
        if ((l2Offset & (ulong)(_clusterSize - 1)) != 0)
        {
            throw Qcow2Errors.Corrupt($"L2 table offset 0x{l2Offset:x} unaligned (L1 index: {(l1Index == 0 ? "0" : $"0x{l1Index:x}")})");
        }
    }

    public (ulong Entry, ulong Bitmap) ReadEntry(CachedTable table, int index)
    {
        var span = table.Data.AsSpan(index * EntryBytes);
        ulong entry = BinaryPrimitives.ReadUInt64BigEndian(span);
        ulong bitmap = ExtendedL2 ? BinaryPrimitives.ReadUInt64BigEndian(span[8..]) : 0;
        return (entry, bitmap);
    }

    public void WriteEntry(CachedTable table, int index, ulong entry, ulong bitmap)
    {
        var span = table.Data.AsSpan(index * EntryBytes);
        BinaryPrimitives.WriteUInt64BigEndian(span, entry);
        if (ExtendedL2)
        {
            BinaryPrimitives.WriteUInt64BigEndian(span[8..], bitmap);
        }
        table.Dirty = true;
    }

    public void SetL1(long index, ulong entry)
    {
        L1[index] = entry;
        _dirtyL1Sectors.Add((int)(index * 8 / 512));
    }

    /// <summary>After a repair rebuilt the refcounts and fixed COPIED flags on disk: start over from disk.</summary>
    public void Reload(RefcountStore refcounts, ulong[] l1)
    {
        _refcounts = refcounts;
        L1 = l1;
        _dirtyL1Sectors.Clear();
        Cache.Clear();
    }

    /// <summary>Replaces the L1 table (resize); the caller has written it and updated the header.</summary>
    public void ReplaceL1(ulong[] l1, ulong offset)
    {
        L1 = l1;
        L1Offset = offset;
        _dirtyL1Sectors.Clear();
    }

    public async ValueTask WriteTablesAsync(CancellationToken ct)
    {
        foreach (var table in Cache.DirtyTables.ToList())
        {
            await WriteTableAsync(table, ct).ConfigureAwait(false);
        }
    }

    public async ValueTask WriteTableAsync(CachedTable table, CancellationToken ct)
    {
        BeforeMetadataWrite?.Invoke(table.Offset, table.Data.Length, MetadataNames.ActiveL2);
        await _file.EnsureLengthAsync((long)table.Offset + table.Data.Length, ct).ConfigureAwait(false);
        await _file.WriteAsync((long)table.Offset, table.Data, Core.Io.WriteFlags.None, ct).ConfigureAwait(false);
        table.Dirty = false;
    }

    /// <summary>Writes the changed 512-byte sectors of the L1 table.</summary>
    public async ValueTask WriteL1Async(CancellationToken ct)
    {
        var sector = new byte[512];
        foreach (int s in _dirtyL1Sectors.Order())
        {
            int first = s * 64;
            int count = Math.Min(64, L1.Length - first);
            Array.Clear(sector);
            for (int i = 0; i < count; i++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(sector.AsSpan(i * 8), L1[first + i]);
            }
            BeforeMetadataWrite?.Invoke(L1Offset + (ulong)s * 512, count * 8, MetadataNames.ActiveL1);
            await _file.WriteAsync((long)L1Offset + s * 512L, sector.AsMemory(0, count * 8), Core.Io.WriteFlags.None, ct).ConfigureAwait(false);
        }
        _dirtyL1Sectors.Clear();
    }

    /// <summary>The L2 table at a host offset (of the active L1 or of a snapshot's), through the cache.</summary>
    public async ValueTask<CachedTable> LoadAsync(ulong offset, CancellationToken ct) =>
        await Cache.GetAsync(offset, ReadTableAsync, EvictAsync, ct).ConfigureAwait(false);

    private ValueTask EvictAsync(CachedTable table, CancellationToken ct) =>
        EvictL2 is { } evict ? evict(table, ct) : WriteTableAsync(table, ct);

    private ValueTask ReadTableAsync(ulong offset, Memory<byte> buffer, CancellationToken ct)
    {
        if ((offset & (ulong)(_clusterSize - 1)) != 0)
        {
            throw Qcow2Errors.Corrupt($"L2 table offset 0x{offset:x} is not cluster aligned");
        }
        if ((long)offset + buffer.Length > _file.Length)
        {
            throw Qcow2Errors.Corrupt($"L2 table offset 0x{offset:x} is beyond the end of the image file");
        }
        return _file.ReadAsync((long)offset, buffer, ct);
    }
}
