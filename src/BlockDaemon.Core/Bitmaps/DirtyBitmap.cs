using System.Numerics;
using System.Security.Cryptography;
using BlockDaemon.Core.Errors;

namespace BlockDaemon.Core.Bitmaps;

/// <summary>
/// A dirty bitmap of a node (QEMU's BdrvDirtyBitmap): one bit per granule of the node's bytes,
/// set by the node's generic write path while the bitmap records. Bits are guarded by
/// <see cref="SyncRoot"/> (writes mark from the thread pool); the other state (name, flags,
/// successor) changes only on the control loop.
///
/// A job freezes a bitmap by giving it a successor: the bitmap stops recording and becomes busy,
/// the successor (an anonymous bitmap of the same node) records the writes that follow. On
/// success the job <see cref="Abdicate"/>s (the successor takes the name: only new writes are
/// left); on failure it <see cref="Reclaim"/>s (the successor's bits are merged back), so no bit
/// is ever lost.
/// </summary>
public sealed class DirtyBitmap
{
    // Guards _bits (and the persistence layer's mirror of it, see SyncRoot).
    private readonly object _lock = new();
    private HierarchicalBitmap _bits;
    private long _changes;

    internal DirtyBitmap(string? name, long granularity, long diskLength)
    {
        if (granularity < 512 || !BitOperations.IsPow2(granularity))
        {
            throw new ArgumentOutOfRangeException(nameof(granularity));
        }
        Name = name;
        Granularity = granularity;
        GranularityBits = BitOperations.TrailingZeroCount(granularity);
        DiskLength = diskLength;
        _bits = new HierarchicalBitmap(BitsFor(diskLength));
    }

    /// <summary>An anonymous bitmap of no node (scratch space for merges and jobs).</summary>
    public static DirtyBitmap CreateDetached(long granularity, long diskLength) => new(null, granularity, diskLength);

    /// <summary>Null for an anonymous bitmap (a successor, a merge's scratch bitmap).</summary>
    public string? Name { get; internal set; }

    public long Granularity { get; }

    public int GranularityBits { get; }

    /// <summary>Bytes of the node the bitmap covers.</summary>
    public long DiskLength { get; private set; }

    /// <summary>Not recording by itself (block-dirty-bitmap-disable, or frozen by a successor).</summary>
    public bool Disabled { get; internal set; }

    /// <summary>Whether writes reach this bitmap or its successor (qsd's "recording").</summary>
    public bool Recording => !Disabled || (Successor is { } s && !s.Disabled);

    /// <summary>In use by an operation (a job's frozen bitmap, an NBD export): not to be changed or removed.</summary>
    public bool Busy => _busyUsers > 0 || Successor is not null;

    private int _busyUsers;

    /// <summary>Stored in the image when the node closes (and, in qcow2, kept there all along).</summary>
    public bool Persistent { get; set; }

    /// <summary>Loaded from an image that was not closed cleanly by QEMU: its bits cannot be trusted.</summary>
    public bool Inconsistent { get; internal set; }

    /// <summary>Loaded from a read-only image: may not be changed (qsd's readonly bitmaps).</summary>
    public bool ReadOnly { get; internal set; }

    /// <summary>The bitmap recording new writes while this one is frozen.</summary>
    public DirtyBitmap? Successor { get; private set; }

    /// <summary>
    /// Grows on every change other than marking (clear, merge, reclaim, resize), so a persistence
    /// layer knows when its stored copy may have bits the bitmap no longer has.
    /// </summary>
    public long ChangeCount => Interlocked.Read(ref _changes);

    /// <summary>
    /// The lock that guards the bits. A persistence layer takes it to snapshot the bits and update
    /// its own record of what is durable in one step with respect to writers.
    /// </summary>
    public object SyncRoot => _lock;

    /// <summary>Bits (granules); read under <see cref="SyncRoot"/>.</summary>
    public HierarchicalBitmap Bits => _bits;

    /// <summary>Dirty bytes (set granules times the granularity, as qsd counts).</summary>
    public long Count
    {
        get
        {
            lock (_lock)
            {
                return _bits.Count << GranularityBits;
            }
        }
    }

    public long BitsFor(long length) => (length + Granularity - 1) >> GranularityBits;

    /// <summary>Sets the granules that [offset, offset + length) touches.</summary>
    public void Mark(long offset, long length)
    {
        if (length <= 0)
        {
            return;
        }
        lock (_lock)
        {
            long first = offset >> GranularityBits;
            long end = Math.Min(_bits.Length, (offset + length + Granularity - 1) >> GranularityBits);
            if (end > first)
            {
                _bits.Set(first, end - first);
            }
        }
    }

    /// <summary>Clears the granules that lie wholly inside [offset, offset + length) (a job that copied them).</summary>
    public void Reset(long offset, long length)
    {
        lock (_lock)
        {
            long first = (offset + Granularity - 1) >> GranularityBits;
            long end = offset + length >= DiskLength ? _bits.Length : (offset + length) >> GranularityBits;
            if (end > first)
            {
                _bits.Reset(first, end - first);
                Interlocked.Increment(ref _changes);
            }
        }
    }

    public bool IsDirty(long offset)
    {
        lock (_lock)
        {
            return _bits.Get(offset >> GranularityBits);
        }
    }

    /// <summary>
    /// The dirty (or, with <paramref name="dirty"/> false, clean) extent at <paramref name="offset"/>:
    /// its length in bytes, at most <paramref name="maxLength"/>, for block-status style queries.
    /// </summary>
    public (bool Dirty, long Length) ExtentAt(long offset, long maxLength)
    {
        lock (_lock)
        {
            long bit = offset >> GranularityBits;
            bool dirty = _bits.Get(bit);
            long next = dirty ? _bits.NextClear(bit) : _bits.NextSet(bit);
            long endByte = next < 0 ? DiskLength : Math.Min(DiskLength, next << GranularityBits);
            return (dirty, Math.Min(maxLength, endByte - offset));
        }
    }

    /// <summary>
    /// Clears every bit; with <paramref name="keepBackup"/> returns the old bits, so a
    /// transaction can undo it (<see cref="Restore"/>).
    /// </summary>
    public HierarchicalBitmap? Clear(bool keepBackup = true)
    {
        lock (_lock)
        {
            var old = keepBackup ? _bits.Clone() : null;
            _bits.Clear();
            Interlocked.Increment(ref _changes);
            return old;
        }
    }

    /// <summary>Puts back bits a <see cref="Clear"/> or <see cref="MergeFrom"/> returned (undo).</summary>
    public void Restore(HierarchicalBitmap backup)
    {
        lock (_lock)
        {
            if (backup.Length == _bits.Length)
            {
                _bits.CopyFrom(backup);
            }
            Interlocked.Increment(ref _changes);
        }
    }

    /// <summary>
    /// Sets every byte range dirty in <paramref name="source"/> (any granularity, same disk size).
    /// Returns the previous bits for undo, or null unless <paramref name="keepBackup"/>.
    /// </summary>
    public HierarchicalBitmap? MergeFrom(DirtyBitmap source, bool keepBackup = true)
    {
        if (source.DiskLength != DiskLength)
        {
            throw new BlockException(BlockErrorKind.InvalidArgument,
                $"Bitmaps are of different sizes (destination size is {DiskLength}, source size is {source.DiskLength}) and can't be merged");
        }
        if (ReferenceEquals(source, this))
        {
            lock (_lock)
            {
                return keepBackup ? _bits.Clone() : null;
            }
        }
        if (source.Granularity == Granularity)
        {
            // Both locks at once: merges run on the control loop one at a time, and writers
            // never hold two bitmap locks, so this order cannot deadlock.
            lock (source._lock)
            {
                lock (_lock)
                {
                    var old = keepBackup ? _bits.Clone() : null;
                    _bits.Merge(source._bits);
                    Interlocked.Increment(ref _changes);
                    return old;
                }
            }
        }
        var ranges = new List<(long Offset, long Length)>();
        lock (source._lock)
        {
            for (long bit = source._bits.NextSet(0); bit >= 0;)
            {
                long end = source._bits.NextClear(bit);
                end = end < 0 ? source._bits.Length : end;
                ranges.Add((bit << source.GranularityBits, (end - bit) << source.GranularityBits));
                bit = end >= source._bits.Length ? -1 : source._bits.NextSet(end);
            }
        }
        lock (_lock)
        {
            var old = keepBackup ? _bits.Clone() : null;
            foreach (var (offset, length) in ranges)
            {
                long first = offset >> GranularityBits;
                long end = Math.Min(_bits.Length, (offset + length + Granularity - 1) >> GranularityBits);
                if (end > first)
                {
                    _bits.Set(first, end - first);
                }
            }
            Interlocked.Increment(ref _changes);
            return old;
        }
    }

    /// <summary>SHA-256 of the bits as QEMU's hbitmap serializes them (64-bit little-endian words).</summary>
    public string Sha256()
    {
        byte[] words;
        lock (_lock)
        {
            words = _bits.ToWordBytes();
        }
        return Convert.ToHexStringLower(SHA256.HashData(words));
    }

    /// <summary>Follows a resize of the node: new bytes are clean, bits past a shrink are dropped.</summary>
    internal void Resize(long diskLength)
    {
        lock (_lock)
        {
            DiskLength = diskLength;
            long bits = BitsFor(diskLength);
            if (bits != _bits.Length)
            {
                _bits = _bits.Resized(bits);
            }
            Interlocked.Increment(ref _changes);
        }
    }

    /// <summary>A user (an NBD export) that needs the bitmap unchanged while it lasts.</summary>
    public void AddBusyUser() => _busyUsers++;

    public void RemoveBusyUser() => _busyUsers--;

    /// <summary>
    /// Checks what an operation needs in qsd's order and words (bdrv_dirty_bitmap_check):
    /// not busy, not read-only (unless <paramref name="allowReadOnly"/>), not inconsistent
    /// (unless <paramref name="allowInconsistent"/>).
    /// </summary>
    public void Check(bool allowReadOnly = false, bool allowInconsistent = false)
    {
        if (Busy)
        {
            throw new BlockException(BlockErrorKind.Busy, $"Bitmap '{Name}' is currently in use by another operation and cannot be used");
        }
        if (!allowReadOnly && ReadOnly)
        {
            throw new BlockException(BlockErrorKind.ReadOnly, $"Bitmap '{Name}' is readonly and cannot be modified");
        }
        if (!allowInconsistent && Inconsistent)
        {
            throw new BlockException(BlockErrorKind.InvalidArgument, $"Bitmap '{Name}' is inconsistent and cannot be used");
        }
    }

    internal void SetSuccessor(DirtyBitmap? successor) => Successor = successor;

    internal void ReplaceBits(HierarchicalBitmap bits)
    {
        lock (_lock)
        {
            _bits = bits;
            Interlocked.Increment(ref _changes);
        }
    }

    public override string ToString() => Name ?? "(anonymous)";
}
