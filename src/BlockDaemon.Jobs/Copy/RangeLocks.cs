namespace BlockDaemon.Jobs.Copy;

/// <summary>
/// Byte ranges in use by the job's copy of a dirty run or by a write-blocking guest write (qsd's
/// in-flight mirror operations): the two must not interleave over the same bytes, or the copy
/// could land old data on the target after the guest write's new data. A copy waits for guest
/// writes in its range (they are short). A guest write never waits for a copy, which may sit
/// paused or stopped on an error for as long as the user likes: it is told the range is busy
/// and leaves that area to the copy, marked dirty, instead.
/// </summary>
internal sealed class RangeLocks
{
    private readonly Lock _lock = new();
    private readonly List<Held> _held = [];

    internal sealed class Held(long start, long end, bool copy)
    {
        public long Start { get; } = start;
        public long End { get; } = end;
        public bool Copy { get; } = copy;
        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>For the job's copy: waits until nothing held overlaps [start, end), then holds it.</summary>
    public async ValueTask<Held> AcquireCopyAsync(long start, long end, CancellationToken ct) =>
        (await AcquireAsync(start, end, copy: true, ct).ConfigureAwait(false))!;

    /// <summary>For a guest write: holds [start, end) once no other guest write overlaps it; null when a copy does.</summary>
    public ValueTask<Held?> AcquireWriteAsync(long start, long end, CancellationToken ct) => AcquireAsync(start, end, copy: false, ct);

    private async ValueTask<Held?> AcquireAsync(long start, long end, bool copy, CancellationToken ct)
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                var overlapping = _held.Find(h => h.Start < end && start < h.End);
                if (overlapping is null)
                {
                    var held = new Held(start, end, copy);
                    _held.Add(held);
                    return held;
                }
                if (!copy && overlapping.Copy)
                {
                    return null;
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
