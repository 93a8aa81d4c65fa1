using System.Buffers.Binary;
using BlockDaemon.Core.Graph;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2.Engine;

/// <summary>
/// Reference counts: the refcount table (in memory, written back on flush) and refcount blocks
/// (through a <see cref="TableCache"/>), cluster allocation, and frees deferred until the L2
/// entries that dropped the references are on disk. Callers hold the image's metadata lock.
/// </summary>
internal sealed class RefcountStore
{
    private readonly BlockChild _file;
    private readonly int _clusterBits;
    private readonly int _clusterSize;
    private readonly int _refcountOrder;
    private readonly long _entriesPerBlock;
    private readonly List<(long Cluster, long Count, FreeReason Reason)> _pendingFrees = [];
    private ulong[] _table;
    private readonly HashSet<int> _dirtyTableClusters = [];
    private long _freeHint;
    private long _reservedStart;
    private long _reservedEnd;

    public RefcountStore(BlockChild file, int clusterBits, int refcountOrder, ulong[] table, ulong tableOffset, long fileClusters, int cacheTables)
    {
        _file = file;
        _clusterBits = clusterBits;
        _clusterSize = 1 << clusterBits;
        _refcountOrder = refcountOrder;
        _entriesPerBlock = ((long)_clusterSize * 8) >> refcountOrder;
        _table = table;
        TableOffset = tableOffset;
        FreshFrom = fileClusters;
        EndCluster = fileClusters;
        Cache = new TableCache(_clusterSize, cacheTables);
    }

    public TableCache Cache { get; }

    public ulong TableOffset { get; private set; }

    public int TableClusters => (int)(((long)_table.Length * 8 + _clusterSize - 1) >> _clusterBits);

    /// <summary>Clusters at or above this index were never written since open and read as zeroes.</summary>
    public long FreshFrom { get; private set; }

    /// <summary>One past the highest cluster the image file holds or has allocated.</summary>
    public long EndCluster { get; private set; }

    public ulong MaxRefcount => _refcountOrder == 6 ? ulong.MaxValue : (1UL << (1 << _refcountOrder)) - 1;

    public bool HasPendingFrees => _pendingFrees.Count > 0;

    public bool TableDirty => _dirtyTableClusters.Count > 0;

    /// <summary>
    /// Names the metadata that lives in a host cluster, or null. A cluster whose refcount reads
    /// 0 but that holds metadata means the refcounts are corrupt; allocating it would overwrite
    /// the header or a table, so allocation stops there instead.
    /// </summary>
    public Func<long, string?>? MetadataAt { get; set; }

    /// <summary>Checks a metadata write (offset, length, what) against the other metadata; throws on overlap.</summary>
    public Action<ulong, long, string>? BeforeMetadataWrite { get; set; }

    /// <summary>The refcount table's entries (refcount block offsets, 0 where none).</summary>
    public ReadOnlySpan<ulong> Table => _table;

    /// <summary>Set when a table or header change needs the refcount table rewritten in place (grow).</summary>
    public Func<ulong, int, CancellationToken, ValueTask>? OnTableMoved { get; set; }

    public async ValueTask<ulong> GetAsync(long cluster, CancellationToken ct)
    {
        long blockIndex = cluster / _entriesPerBlock;
        if (blockIndex >= _table.Length)
        {
            return 0;
        }
        ulong blockOffset = _table[blockIndex] & ~TableEntries.RefcountTableReservedMask;
        if (blockOffset == 0)
        {
            return 0;
        }
        var block = await LoadBlockAsync(blockOffset, ct).ConfigureAwait(false);
        return Read(block.Data, cluster % _entriesPerBlock);
    }

    /// <summary>Adds <paramref name="delta"/> to a cluster's refcount, creating refcount blocks as needed.</summary>
    public async ValueTask AddAsync(long cluster, long delta, CancellationToken ct)
    {
        var block = await BlockForWriteAsync(cluster, ct).ConfigureAwait(false);
        long index = cluster % _entriesPerBlock;
        ulong current = Read(block.Data, index);
        ulong updated = (ulong)((long)current + delta);
        if ((delta < 0 && current < (ulong)(-delta)) || (delta > 0 && updated > MaxRefcount) || (delta > 0 && updated < current))
        {
            throw Qcow2Errors.Corrupt($"Refcount of cluster {cluster} would be {(delta < 0 ? "negative" : "too large")}");
        }
        Write(block.Data, index, updated);
        block.Dirty = true;
        if (updated == 0 && cluster < _freeHint)
        {
            _freeHint = cluster;
        }
    }

    /// <summary>Allocates <paramref name="count"/> contiguous clusters (refcount 1); returns the first index.</summary>
    public async ValueTask<long> AllocateAsync(long count, CancellationToken ct)
    {
        long start = _freeHint;
        long firstFree = -1;
        while (true)
        {
            long run = 0;
            for (long c = start; run < count; c++)
            {
                if (c >= EndCluster || await GetAsync(c, ct).ConfigureAwait(false) == 0)
                {
                    RefuseMetadata(c);
                    if (firstFree < 0)
                    {
                        firstFree = c;
                    }
                    run++;
                }
                else
                {
                    start = c + 1;
                    run = 0;
                    break;
                }
            }
            if (run == count)
            {
                break;
            }
        }
        // Refcount blocks created while counting the run must not land inside it.
        (_reservedStart, _reservedEnd) = (start, start + count);
        try
        {
            for (long c = start; c < start + count; c++)
            {
                await AddAsync(c, 1, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            (_reservedStart, _reservedEnd) = (0, 0);
        }
        // Everything the scan passed before its first free cluster is in use: the next scan
        // starts there. (Only moving the hint when the run started at it left it at the first
        // used cluster after open, and every multi-cluster allocation rescanned the whole image.)
        _freeHint = firstFree == start ? start + count : firstFree;
        EndCluster = Math.Max(EndCluster, start + count);
        return start;
    }

    /// <summary>
    /// Marks clusters as written: they no longer read as zeroes. Clusters skipped between the old
    /// mark and these (a refcount block placed past a data run) stop counting as fresh too: one
    /// of them may later hold data, be freed and come back, and must then be filled.
    /// </summary>
    public void MarkUsed(long cluster, long count)
    {
        FreshFrom = Math.Max(FreshFrom, cluster + count);
    }

    public bool IsFresh(long cluster) => cluster >= FreshFrom;

    /// <summary>Drops references once the metadata that held them is durable (see <see cref="ApplyPendingFreesAsync"/>).</summary>
    public void FreeLater(long cluster, long count, FreeReason reason = FreeReason.Other) => _pendingFrees.Add((cluster, count, reason));

    public async ValueTask<List<(long Cluster, FreeReason Reason)>> ApplyPendingFreesAsync(CancellationToken ct)
    {
        var freed = new List<(long, FreeReason)>();
        foreach (var (cluster, count, reason) in _pendingFrees)
        {
            for (long c = cluster; c < cluster + count; c++)
            {
                await AddAsync(c, -1, ct).ConfigureAwait(false);
                if (await GetAsync(c, ct).ConfigureAwait(false) == 0)
                {
                    freed.Add((c, reason));
                }
            }
        }
        _pendingFrees.Clear();
        return freed;
    }

    /// <summary>
    /// QEMU's qcow2_shrink_reftable: refcount blocks that count no cluster (a block may count
    /// itself) leave the table, which is made durable before their own references are dropped.
    /// </summary>
    public async ValueTask DropUnusedBlocksAsync(CancellationToken ct)
    {
        var unused = new List<(int Index, ulong Offset)>();
        for (int i = 0; i < _table.Length; i++)
        {
            ulong offset = _table[i] & ~TableEntries.RefcountTableReservedMask;
            if (offset != 0 && await CountsNothingAsync(i, offset, ct).ConfigureAwait(false))
            {
                unused.Add((i, offset));
            }
        }
        if (unused.Count == 0)
        {
            return;
        }
        foreach (var (index, _) in unused)
        {
            _table[index] = 0;
            _dirtyTableClusters.Add((int)((long)index * 8 / _clusterSize));
        }
        await WriteTableAsync(ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
        foreach (var (index, offset) in unused)
        {
            long cluster = (long)(offset >> _clusterBits);
            Cache.Remove(offset);
            if (cluster / _entriesPerBlock == index)
            {
                // It counted only itself, and it is gone: its cluster is free.
                _freeHint = Math.Min(_freeHint, cluster);
            }
            else
            {
                await AddAsync(cluster, -1, ct).ConfigureAwait(false);
            }
        }
    }

    private async ValueTask<bool> CountsNothingAsync(int index, ulong offset, CancellationToken ct)
    {
        var block = await LoadBlockAsync(offset, ct).ConfigureAwait(false);
        long cluster = (long)(offset >> _clusterBits);
        if (cluster / _entriesPerBlock != index)
        {
            return !block.Data.AsSpan().ContainsAnyExcept((byte)0);
        }
        long self = cluster % _entriesPerBlock;
        ulong own = Read(block.Data, self);
        Write(block.Data, self, 0);
        bool empty = !block.Data.AsSpan().ContainsAnyExcept((byte)0);
        Write(block.Data, self, own);
        return empty;
    }

    /// <summary>QEMU's qcow2_get_last_cluster: the highest cluster below <paramref name="endCluster"/> in use, or -1.</summary>
    public async ValueTask<long> LastUsedClusterAsync(long endCluster, CancellationToken ct)
    {
        for (long c = endCluster - 1; c >= 0; c--)
        {
            if (await GetAsync(c, ct).ConfigureAwait(false) != 0)
            {
                return c;
            }
        }
        return -1;
    }

    /// <summary>The image file was cut at <paramref name="endCluster"/>: what lies beyond reads as zeroes again.</summary>
    public void FileTruncated(long endCluster)
    {
        EndCluster = endCluster;
        FreshFrom = Math.Min(FreshFrom, endCluster);
    }

    /// <summary>Writes dirty refcount blocks (not the table).</summary>
    public async ValueTask WriteBlocksAsync(CancellationToken ct)
    {
        foreach (var block in Cache.DirtyTables.ToList())
        {
            await WriteBlockAsync(block, ct).ConfigureAwait(false);
        }
    }

    public async ValueTask WriteBlockAsync(CachedTable block, CancellationToken ct)
    {
        BeforeMetadataWrite?.Invoke(block.Offset, block.Data.Length, MetadataNames.RefcountBlock);
        await _file.EnsureLengthAsync((long)block.Offset + block.Data.Length, ct).ConfigureAwait(false);
        await _file.WriteAsync((long)block.Offset, block.Data, Core.Io.WriteFlags.None, ct).ConfigureAwait(false);
        block.Dirty = false;
    }

    /// <summary>Writes the changed clusters of the refcount table (after the blocks they point to are durable).</summary>
    public async ValueTask WriteTableAsync(CancellationToken ct)
    {
        foreach (int index in _dirtyTableClusters.Order())
        {
            int perCluster = _clusterSize / 8;
            var bytes = new byte[_clusterSize];
            for (int i = 0; i < perCluster && index * perCluster + i < _table.Length; i++)
            {
                BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(i * 8), _table[index * perCluster + i]);
            }
            BeforeMetadataWrite?.Invoke(TableOffset + ((ulong)index << _clusterBits), _clusterSize, MetadataNames.RefcountTable);
            await _file.EnsureLengthAsync((long)TableOffset + ((long)(index + 1) << _clusterBits), ct).ConfigureAwait(false);
            await _file.WriteAsync((long)TableOffset + ((long)index << _clusterBits), bytes, Core.Io.WriteFlags.None, ct).ConfigureAwait(false);
        }
        _dirtyTableClusters.Clear();
    }

    private async ValueTask<CachedTable> LoadBlockAsync(ulong offset, CancellationToken ct) =>
        await Cache.GetAsync(offset, ReadTableAsync, WriteBlockAsync, ct).ConfigureAwait(false);

    private ValueTask ReadTableAsync(ulong offset, Memory<byte> buffer, CancellationToken ct)
    {
        if ((offset & (ulong)(_clusterSize - 1)) != 0)
        {
            throw Qcow2Errors.Corrupt($"Refcount block offset 0x{offset:x} unaligned");
        }
        if (offset > long.MaxValue || (long)offset + buffer.Length > _file.Length)
        {
            throw Qcow2Errors.Corrupt($"Refcount block offset 0x{offset:x} is beyond the end of the image file");
        }
        return _file.ReadAsync((long)offset, buffer, ct);
    }

    private async ValueTask<CachedTable> BlockForWriteAsync(long cluster, CancellationToken ct)
    {
        long blockIndex = cluster / _entriesPerBlock;
        if (blockIndex >= _table.Length)
        {
            await GrowTableAsync(blockIndex + 1, ct).ConfigureAwait(false);
        }
        ulong blockOffset = _table[blockIndex] & ~TableEntries.RefcountTableReservedMask;
        if (blockOffset != 0)
        {
            return await LoadBlockAsync(blockOffset, ct).ConfigureAwait(false);
        }
        // A new refcount block goes into the first free cluster; when that cluster is one the
        // block itself covers, the block counts itself.
        long location = await FindFreeAsync(ct).ConfigureAwait(false);
        EndCluster = Math.Max(EndCluster, location + 1);
        var block = await Cache.GetAsync((ulong)location << _clusterBits, null, WriteBlockAsync, ct).ConfigureAwait(false);
        _table[blockIndex] = (ulong)location << _clusterBits;
        _dirtyTableClusters.Add((int)(blockIndex * 8 / _clusterSize));
        MarkUsed(location, 1);
        if (location / _entriesPerBlock == blockIndex)
        {
            Write(block.Data, location % _entriesPerBlock, 1);
        }
        else
        {
            await AddAsync(location, 1, ct).ConfigureAwait(false);
        }
        if (location < _freeHint + 1)
        {
            _freeHint = location + 1;
        }
        return block;
    }

    private async ValueTask<long> FindFreeAsync(CancellationToken ct)
    {
        for (long c = _freeHint; ; c++)
        {
            if (c >= _reservedStart && c < _reservedEnd)
            {
                c = _reservedEnd - 1;
                continue;
            }
            if (c >= EndCluster || await GetAsync(c, ct).ConfigureAwait(false) == 0)
            {
                RefuseMetadata(c);
                return c;
            }
        }
    }

    private void RefuseMetadata(long cluster)
    {
        if (MetadataAt?.Invoke(cluster) is { } what)
        {
            throw Qcow2Errors.Corrupt(
                $"Preventing invalid allocation over metadata: host cluster {cluster} holds the {what} but its refcount is 0 (the image is corrupt; 'qemu-img check -r all' repairs it)");
        }
    }

    // Builds a bigger table at the end of the image with the refcount blocks that cover it,
    // switches the header to it, then frees the old one.
    private async ValueTask GrowTableAsync(long minEntries, CancellationToken ct)
    {
        int perCluster = _clusterSize / 8;
        long start = EndCluster;
        long newEntries = Math.Max(minEntries, (long)_table.Length * 3 / 2);
        long tableClusters, newBlocks = 0;
        while (true)
        {
            tableClusters = (newEntries + perCluster - 1) / perCluster;
            long end = start + newBlocks + tableClusters;
            long needed = 0;
            for (long b = start / _entriesPerBlock; b <= (end - 1) / _entriesPerBlock; b++)
            {
                if (b >= _table.Length || _table[b] == 0)
                {
                    needed++;
                }
            }
            long lastBlock = (end - 1) / _entriesPerBlock;
            if (lastBlock >= newEntries)
            {
                newEntries = lastBlock + 1;
                continue;
            }
            if (needed == newBlocks)
            {
                break;
            }
            newBlocks = needed;
        }
        if (tableClusters * _clusterSize > Qcow2Limits.MaxRefcountTableBytes)
        {
            throw Qcow2Errors.NotSupported("Cannot grow the refcount table beyond its maximum size; the image is too big");
        }
        var newTable = new ulong[tableClusters * perCluster];
        _table.CopyTo(newTable, 0);
        long areaEnd = start + newBlocks + tableClusters;
        long nextBlock = start;
        for (long b = start / _entriesPerBlock; b <= (areaEnd - 1) / _entriesPerBlock; b++)
        {
            if (newTable[b] == 0)
            {
                newTable[b] = (ulong)nextBlock << _clusterBits;
                var created = await Cache.GetAsync((ulong)nextBlock << _clusterBits, null, WriteBlockAsync, ct).ConfigureAwait(false);
                created.Dirty = true;
                nextBlock++;
            }
        }
        var oldTable = _table;
        ulong oldOffset = TableOffset;
        int oldClusters = TableClusters;
        _table = newTable;
        EndCluster = areaEnd;
        MarkUsed(start, areaEnd - start);
        for (long c = start; c < areaEnd; c++)
        {
            await AddAsync(c, 1, ct).ConfigureAwait(false);
        }
        // New blocks and table must be durable before the header points at them.
        await WriteBlocksAsync(ct).ConfigureAwait(false);
        TableOffset = (ulong)(start + newBlocks) << _clusterBits;
        _dirtyTableClusters.Clear();
        for (int i = 0; i < tableClusters; i++)
        {
            _dirtyTableClusters.Add(i);
        }
        await _file.EnsureLengthAsync(areaEnd << _clusterBits, ct).ConfigureAwait(false);
        await WriteTableAsync(ct).ConfigureAwait(false);
        await _file.FlushAsync(ct).ConfigureAwait(false);
        if (OnTableMoved is { } moved)
        {
            await moved(TableOffset, (int)tableClusters, ct).ConfigureAwait(false);
        }
        _ = oldTable;
        FreeLater((long)(oldOffset >> _clusterBits), oldClusters);
    }

    private ulong Read(byte[] block, long index) => Refcounts.Read(block, _refcountOrder, index);

    private void Write(byte[] block, long index, ulong value) => Refcounts.Write(block, _refcountOrder, index, value);
}
