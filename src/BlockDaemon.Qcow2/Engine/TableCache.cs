namespace BlockDaemon.Qcow2.Engine;

/// <summary>
/// A write-back cache of cluster-sized metadata tables (L2 tables or refcount blocks), keyed by
/// host offset. Not thread-safe: every caller holds the image's metadata lock. Entries touched
/// in the current operation are never evicted, so an operation may hold several at once.
/// </summary>
internal sealed class TableCache
{
    private readonly Dictionary<ulong, CachedTable> _entries = [];
    private readonly int _tableSize;
    private long _clock;
    private long _operation;

    public TableCache(int tableSize, int capacity)
    {
        _tableSize = tableSize;
        Capacity = Math.Max(4, capacity);
    }

    public int Capacity { get; set; }

    public int Count => _entries.Count;

    public IEnumerable<CachedTable> DirtyTables => _entries.Values.Where(e => e.Dirty).OrderBy(e => e.Offset);

    /// <summary>Starts an operation: tables it touches stay in the cache until the next one starts.</summary>
    public void BeginOperation() => _operation++;

    /// <summary>
    /// Returns the table at <paramref name="offset"/>, reading it with <paramref name="load"/>
    /// when absent (or zero-filled when <paramref name="load"/> is null, for new tables).
    /// <paramref name="evict"/> writes a dirty victim out before it is dropped.
    /// </summary>
    public async ValueTask<CachedTable> GetAsync(ulong offset, Func<ulong, Memory<byte>, CancellationToken, ValueTask>? load,
        Func<CachedTable, CancellationToken, ValueTask> evict, CancellationToken ct)
    {
        if (_entries.TryGetValue(offset, out var hit))
        {
            Touch(hit);
            return hit;
        }
        byte[]? reused = null;
        if (_entries.Count >= Capacity)
        {
            reused = await EvictOneAsync(evict, ct).ConfigureAwait(false);
        }
        // A full cache recycles its victim's buffer: a cache cycling through tables would
        // otherwise leave a table-sized garbage array per miss (and RSS grows with the GC heap).
        if (reused is not null && load is null)
        {
            Array.Clear(reused);
        }
        var table = new CachedTable(offset, reused ?? new byte[_tableSize]);
        if (load is not null)
        {
            await load(offset, table.Data, ct).ConfigureAwait(false);
        }
        else
        {
            table.Dirty = true;
        }
        _entries[offset] = table;
        Touch(table);
        return table;
    }

    /// <summary>Drops a table (its cluster was freed); pending changes are discarded.</summary>
    public void Remove(ulong offset) => _entries.Remove(offset);

    /// <summary>Drops clean tables not used after <paramref name="sinceClock"/> (a <see cref="Clock"/> value taken earlier).</summary>
    public void DropIdle(long sinceClock)
    {
        foreach (var stale in _entries.Values.Where(e => !e.Dirty && e.LastUse <= sinceClock).ToList())
        {
            _entries.Remove(stale.Offset);
        }
    }

    public long Clock => _clock;

    public void Clear() => _entries.Clear();

    private void Touch(CachedTable table)
    {
        table.LastUse = ++_clock;
        table.Operation = _operation;
    }

    // Returns the victim's buffer for reuse, or null when nothing could be evicted.
    private async ValueTask<byte[]?> EvictOneAsync(Func<CachedTable, CancellationToken, ValueTask> evict, CancellationToken ct)
    {
        CachedTable? victim = null;
        foreach (var entry in _entries.Values)
        {
            if (entry.Operation == _operation)
            {
                continue;
            }
            // Clean tables go first: dropping them costs no write.
            if (victim is null || (victim.Dirty && !entry.Dirty) || (victim.Dirty == entry.Dirty && entry.LastUse < victim.LastUse))
            {
                victim = entry;
            }
        }
        if (victim is null)
        {
            return null; // Everything is in use by this operation: grow past capacity for now.
        }
        if (victim.Dirty)
        {
            await evict(victim, ct).ConfigureAwait(false);
        }
        _entries.Remove(victim.Offset);
        return victim.Data;
    }
}

/// <summary>One cached table: its host offset and contents (big-endian entries).</summary>
internal sealed class CachedTable(ulong offset, byte[] data)
{
    public ulong Offset { get; } = offset;
    public byte[] Data { get; } = data;
    public bool Dirty { get; set; }
    public long LastUse { get; set; }
    public long Operation { get; set; }
}
