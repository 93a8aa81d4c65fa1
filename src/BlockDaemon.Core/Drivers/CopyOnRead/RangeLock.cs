namespace BlockDaemon.Core.Drivers.CopyOnRead;

/// <summary>
/// Byte-range locks for a filter's own requests: shared holders (writes passing through) run
/// side by side, an exclusive holder (a copy-on-read, which reads old data and writes it back)
/// waits for every overlapping holder and makes every overlapping newcomer wait. QEMU gets the
/// same effect from serialising requests in the node below; here the node's tracker already
/// holds the outer request, so the filter keeps its own table.
/// </summary>
internal sealed class RangeLock
{
    private readonly Lock _lock = new();
    private readonly List<Holder> _held = [];

    public async ValueTask<IDisposable> AcquireAsync(long offset, long length, bool exclusive, CancellationToken ct)
    {
        while (true)
        {
            Task released;
            lock (_lock)
            {
                var conflict = _held.Find(h => h.Overlaps(offset, length) && (exclusive || h.Exclusive));
                if (conflict is null)
                {
                    var holder = new Holder(this, offset, length, exclusive);
                    _held.Add(holder);
                    return holder;
                }
                released = conflict.Released.Task;
            }
            await released.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Ranges held now (for tests).</summary>
    internal int HeldCount
    {
        get
        {
            lock (_lock)
            {
                return _held.Count;
            }
        }
    }

    private void Release(Holder holder)
    {
        lock (_lock)
        {
            _held.Remove(holder);
        }
        holder.Released.TrySetResult();
    }

    private sealed class Holder(RangeLock owner, long offset, long length, bool exclusive) : IDisposable
    {
        private int _disposed;

        public bool Exclusive { get; } = exclusive;

        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Overlaps(long start, long count) => start < offset + length && offset < start + count;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Release(this);
            }
        }
    }
}
