using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Jobs.Copy;

/// <summary>
/// Moves a range from a source edge to a target edge for a job (stream, commit; mirror and backup
/// later). A plan says per range whether to copy, write zeroes or skip, so holes and zeroes are
/// never moved as data. Chunks run several at a time with pooled, aligned buffers; the rate limit
/// is paid before each chunk; pause points come between chunks, with nothing in flight. Progress
/// grows as chunks finish (skipped ranges included) and ends equal to the total.
/// </summary>
public sealed class CopyEngine
{
    private readonly BlockChild _source;
    private readonly BlockChild _target;
    private readonly Func<long, long, CancellationToken, ValueTask<CopyExtent>> _plan;
    private readonly CopyOptions _options;

    public CopyEngine(BlockChild source, BlockChild target, Func<long, long, CancellationToken, ValueTask<CopyExtent>> plan, CopyOptions? options = null)
    {
        _source = source;
        _target = target;
        _plan = plan;
        _options = options ?? new CopyOptions();
        if (_options.ChunkSize <= 0 || _options.MaxInFlight <= 0 || _options.MaxPlanLength <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Chunk size, requests in flight and plan length must be positive");
        }
    }

    /// <summary>
    /// Copies [start, end). Throws the first error the job's policy did not ignore; when errors
    /// were ignored the copy goes to the end and then throws the first of them, as QEMU's jobs
    /// end with the error they ignored. Cancellation lets in-flight chunks finish first.
    /// </summary>
    public async ValueTask RunAsync(ICopyJob job, long start, long end, CancellationToken ct, bool setTotal = true)
    {
        if (setTotal)
        {
            job.SetTotal(end - start);
        }
        using var flight = new Flight(_options.MaxInFlight);
        Exception? ignored = null;
        long offset = start;
        // qsd's job loops sleep (rate limit, even at 0 ns) on their first pass, so the command
        // that started a job always replies before the job gets anywhere. Page-cache I/O that
        // completes before its await would otherwise run a small job to its end inside the
        // command, with its events before the reply.
        await Task.Yield();
        try
        {
            while (offset < end)
            {
                if (job.PauseRequested)
                {
                    ignored ??= await SettleAsync(job, flight, ct).ConfigureAwait(false);
                    await job.PausePointAsync().ConfigureAwait(false);
                }
                ct.ThrowIfCancellationRequested();
                if (flight.HasFailures && !_options.SettleAfterRange)
                {
                    ignored ??= await SettleAsync(job, flight, ct).ConfigureAwait(false);
                }
                var extent = await _plan(offset, Math.Min(end - offset, _options.MaxPlanLength), ct).ConfigureAwait(false);
                long length = Math.Clamp(extent.Length, 1, end - offset);
                if (extent.Action == CopyAction.Skip)
                {
                    job.ReportProgress(length);
                    offset += length;
                    continue;
                }
                length = Math.Min(length, _options.ChunkSize);
                if (job.Limiter.Delay() > TimeSpan.Zero)
                {
                    // Nothing in flight while the job sleeps: a pause during the sleep is a real one.
                    ignored ??= await SettleAsync(job, flight, ct).ConfigureAwait(false);
                    // One sleep for the whole delay, as qsd's job sleeps: a pause or a new speed
                    // (which wakes the sleeper) is taken at once, never in a gap between slices.
                    // A job woken early (resumed, or sped up) sends its next chunk at once, as
                    // qsd's does; the account still holds what it sent, so the next wait is longer.
                    for (var delay = job.Limiter.Delay(); delay > TimeSpan.Zero; delay = job.Limiter.Delay())
                    {
                        bool woken = await job.SleepAsync(delay, ct).ConfigureAwait(false);
                        ct.ThrowIfCancellationRequested();
                        if (woken)
                        {
                            break;
                        }
                    }
                }
                job.Limiter.Account(length);
                await flight.EnterAsync(ct).ConfigureAwait(false);
                var chunk = new Chunk(offset, (int)length, extent.Action);
                flight.Track(RunChunkAsync(job, flight, chunk, ct));
                offset += length;
            }
            ignored ??= await SettleAsync(job, flight, ct).ConfigureAwait(false);
        }
        finally
        {
            // Never leave chunks running behind the caller's back (cancel, pause, failure).
            await flight.WhenIdleAsync().ConfigureAwait(false);
        }
        if (ignored is not null)
        {
            throw ignored;
        }
    }

    private async Task RunChunkAsync(ICopyJob job, Flight flight, Chunk chunk, CancellationToken ct)
    {
        try
        {
            var failure = await CopyChunkAsync(chunk, ct).ConfigureAwait(false);
            if (failure is null)
            {
                job.ReportProgress(chunk.Length);
            }
            else
            {
                flight.Fail(chunk, failure.Value.Operation, failure.Value.Error);
            }
        }
        finally
        {
            flight.Exit();
        }
    }

    private async ValueTask<(CopyOperation Operation, Exception Error)?> CopyChunkAsync(Chunk chunk, CancellationToken ct)
    {
        if (_options.ReadCopies)
        {
            using var read = AlignedBufferPool.Rent(chunk.Length);
            try
            {
                await _source.ReadAsync(chunk.Offset, read.Memory[..chunk.Length], ct).ConfigureAwait(false);
                return null;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return (CopyOperation.Read, e);
            }
        }
        if (chunk.Action == CopyAction.Zero)
        {
            try
            {
                await _target.WriteZeroesAsync(chunk.Offset, chunk.Length, _options.ZeroWriteFlags, ct).ConfigureAwait(false);
                return null;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return (CopyOperation.Write, e);
            }
        }
        using var buffer = AlignedBufferPool.Rent(chunk.Length);
        var memory = buffer.Memory[..chunk.Length];
        try
        {
            await _source.ReadAsync(chunk.Offset, memory, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return (CopyOperation.Read, e);
        }
        try
        {
            if (memory.Span.IndexOfAnyExcept((byte)0) < 0)
            {
                await _target.WriteZeroesAsync(chunk.Offset, chunk.Length, WriteFlags.None, ct).ConfigureAwait(false);
            }
            else
            {
                // Every job flushes its target before it depends on the copy (or goes READY):
                // the disk can start on each chunk now instead of all of them in that flush.
                await _target.WriteAsync(chunk.Offset, memory, WriteFlags.WriteBehind, ct).ConfigureAwait(false);
            }
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return (CopyOperation.Write, e);
        }
    }

    // Waits for every chunk in flight, then puts each failed one to the job's policy: returns the
    // first ignored error, throws on Fail, and runs Retry chunks again (the policy paused the job).
    private async ValueTask<Exception?> SettleAsync(ICopyJob job, Flight flight, CancellationToken ct)
    {
        await flight.WhenIdleAsync().ConfigureAwait(false);
        Exception? ignored = null;
        foreach (var (chunk, operation, error) in flight.TakeFailures())
        {
            var failure = (Operation: operation, Error: error);
            while (true)
            {
                var action = await job.OnErrorAsync(failure.Operation, failure.Error).ConfigureAwait(false);
                if (action == CopyErrorAction.Fail)
                {
                    throw failure.Error;
                }
                if (action == CopyErrorAction.Ignore)
                {
                    ignored ??= failure.Error;
                    job.ReportProgress(chunk.Length);
                    break;
                }
                await job.PausePointAsync().ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                if (await CopyChunkAsync(chunk, ct).ConfigureAwait(false) is not { } again)
                {
                    job.ReportProgress(chunk.Length);
                    break;
                }
                failure = again;
            }
        }
        return ignored;
    }

    private readonly record struct Chunk(long Offset, int Length, CopyAction Action);

    // The chunks in flight: a slot per chunk, the failures they left, and a way to wait for none.
    private sealed class Flight(int slots) : IDisposable
    {
        private readonly SemaphoreSlim _slots = new(slots, slots);
        private readonly Lock _lock = new();
        private readonly List<(Chunk, CopyOperation, Exception)> _failures = [];
        private readonly List<Task> _running = [];

        public bool HasFailures
        {
            get
            {
                lock (_lock)
                {
                    return _failures.Count > 0;
                }
            }
        }

        public Task EnterAsync(CancellationToken ct) => _slots.WaitAsync(ct);

        public void Dispose() => _slots.Dispose();

        public void Exit() => _slots.Release();

        public void Track(Task task)
        {
            lock (_lock)
            {
                _running.RemoveAll(t => t.IsCompleted);
                _running.Add(task);
            }
        }

        public void Fail(Chunk chunk, CopyOperation operation, Exception error)
        {
            lock (_lock)
            {
                _failures.Add((chunk, operation, error));
            }
        }

        public List<(Chunk, CopyOperation, Exception)> TakeFailures()
        {
            lock (_lock)
            {
                var taken = _failures.OrderBy(f => f.Item1.Offset).ToList();
                _failures.Clear();
                return taken;
            }
        }

        public async Task WhenIdleAsync()
        {
            Task[] running;
            lock (_lock)
            {
                running = [.. _running];
                _running.Clear();
            }
            try
            {
                await Task.WhenAll(running).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // A cancelled chunk has nothing to report; the caller is being cancelled too.
            }
        }
    }
}
