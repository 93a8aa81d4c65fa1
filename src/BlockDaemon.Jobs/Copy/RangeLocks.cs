namespace BlockDaemon.Jobs.Copy;

/// <summary>
/// Byte ranges held exclusively by one party at a time (qsd's in-flight mirror operations): in
/// write-blocking mode a background copy of a dirty run and a guest write that updates the
/// target must not interleave over the same bytes, or the copy could land old data after the
/// guest write's new data.
/// </summary>
internal sealed class RangeLocks
{
    private readonly Lock _lock = new();
    private readonly List<Held> _held = [];

    internal sealed class Held(long start, long end)
    {
        public long Start { get; } = start;
        public long End { get; } = end;
        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Waits until nothing held overlaps [start, end), then holds it.</summary>
    public async ValueTask<Held> AcquireAsync(long start, long end, CancellationToken ct)
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                var overlapping = _held.Find(h => h.Start < end && start < h.End);
                if (overlapping is null)
                {
                    var held = new Held(start, end);
                    _held.Add(held);
                    return held;
                }
                wait = overlapping.Released.Task;
            }
            await wait.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    public void Release(Held held)
    {
        lock (_lock)
        {
            _held.Remove(held);
        }
        held.Released.TrySetResult();
    }
}
