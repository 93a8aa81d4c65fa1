using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Graph;

namespace BlockDaemon.Jobs.Copy;

/// <summary>
/// The guest writes a live copy (active commit, mirror) has still to carry over: a private bitmap of granules
/// written since they were last copied. Writers mark it from any thread; the job takes runs.
/// </summary>
internal sealed class DirtyTracker : IWriteObserver
{
    private readonly Lock _lock = new();
    private readonly HierarchicalBitmap _bits;
    private readonly long _length;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public DirtyTracker(long length, int granularity)
    {
        Granularity = granularity;
        _length = length;
        _bits = new HierarchicalBitmap(Math.Max(1, (length + granularity - 1) / granularity));
    }

    public int Granularity { get; }

    public long DirtyBytes
    {
        get
        {
            lock (_lock)
            {
                return _bits.Count * Granularity;
            }
        }
    }

    /// <summary>Completes at the next write (or <see cref="Wake"/>).</summary>
    public Task Changed
    {
        get
        {
            lock (_lock)
            {
                return _changed.Task;
            }
        }
    }

    /// <summary>
    /// Set by a write-blocking guest write around its write to the source (the value flows into
    /// that write's observer call): the write itself decides what the target still needs.
    /// </summary>
    public AsyncLocal<bool> Suppressed { get; } = new();

    void IWriteObserver.Written(long offset, long length)
    {
        if (!Suppressed.Value)
        {
            Written(offset, length);
        }
    }

    public void Written(long offset, long length)
    {
        if (length <= 0 || offset >= _length)
        {
            return;
        }
        long first = offset / Granularity;
        long last = (Math.Min(offset + length, _length) - 1) / Granularity;
        TaskCompletionSource changed;
        lock (_lock)
        {
            _bits.Set(first, last - first + 1);
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>Wakes whoever waits on <see cref="Changed"/> (complete, cancel).</summary>
    public void Wake()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>The parts of [offset, offset + length) whose granules are all clean (the target holds them).</summary>
    public List<(long Offset, long Length)> CleanRanges(long offset, long length)
    {
        var ranges = new List<(long, long)>(1);
        long end = Math.Min(offset + length, _length);
        if (end <= offset)
        {
            return ranges;
        }
        long last = (end - 1) / Granularity + 1;
        lock (_lock)
        {
            for (long bit = offset / Granularity; bit < last;)
            {
                long set = _bits.NextSet(bit);
                if (set < 0 || set > last)
                {
                    set = last;
                }
                if (set > bit)
                {
                    long start = Math.Max(bit * Granularity, offset);
                    ranges.Add((start, Math.Min(set * Granularity, end) - start));
                }
                if (set >= last)
                {
                    break;
                }
                long clear = _bits.NextClear(set);
                bit = clear < 0 ? last : clear;
            }
        }
        return ranges;
    }

    /// <summary>Takes (clears) the first dirty run at or after <paramref name="from"/>, as a byte range; null when clean.</summary>
    public (long Offset, long Length)? TakeRun(long from, long maxBytes)
    {
        lock (_lock)
        {
            long start = _bits.NextSet(from / Granularity);
            if (start < 0 || start >= _bits.Length)
            {
                return null;
            }
            long end = _bits.NextClear(start);
            if (end < 0 || end > _bits.Length)
            {
                end = _bits.Length;
            }
            end = Math.Min(end, start + Math.Max(1, maxBytes / Granularity));
            _bits.Reset(start, end - start);
            long offset = start * Granularity;
            return (offset, Math.Min(end * Granularity, _length) - offset);
        }
    }
}
