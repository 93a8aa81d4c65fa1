using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.CopyBeforeWrite;

/// <summary>
/// What is still to be copied from a source to a target, cluster by cluster, and the copies in
/// flight (QEMU's BlockCopyState). A guest write through the copy-before-write filter and the
/// backup job's own loop both go through <see cref="CopyAsync"/>: a cluster is claimed (its bit
/// cleared) before its old data is read, and anyone else who needs that cluster waits for the
/// claim to finish, so the target gets each cluster's data as it was when copying began, once.
/// </summary>
public sealed class BlockCopyState
{
    /// <summary>QEMU's BLOCK_COPY_MAX_BUFFER: the largest read or write of one copy.</summary>
    public const int MaxChunk = 1 << 20;

    private readonly Lock _lock = new();
    private readonly Dictionary<long, Task> _inFlight = [];
    private readonly BlockChild _source;
    private readonly BlockChild _target;
    private readonly DirtyBitmap? _done;
    // Copy buffers kept while the filter lives. A backup has up to max-workers (64) copies in
    // flight, more than the shared pool keeps per size, and each fresh 1 MiB native buffer costs
    // 256 page faults: renting per copy made a 1 GiB backup take 600 000 faults and three times
    // as long as with the buffers reused. Bounded by the copies ever in flight at once.
    private readonly Stack<AlignedBuffer> _buffers = new();
    private bool _released;

    internal BlockCopyState(BlockChild source, BlockChild target, DirtyBitmap copyBitmap, DirtyBitmap? done)
    {
        _source = source;
        _target = target;
        CopyBitmap = copyBitmap;
        _done = done;
        ClusterSize = copyBitmap.Granularity;
    }

    /// <summary>Set bits are clusters whose old data the target does not hold yet.</summary>
    public DirtyBitmap CopyBitmap { get; }

    public long ClusterSize { get; }

    public long Length => CopyBitmap.DiskLength;

    /// <summary>Write the target with compressed writes (backup's 'compress').</summary>
    public bool Compress { get; set; }

    /// <summary>The largest read and write of one copy (x-perf max-chunk, bounded by <see cref="MaxChunk"/>).</summary>
    public int ChunkSize { get; set; } = MaxChunk;

    /// <summary>Called with the bytes of every finished copy, whoever made it (the job's progress).</summary>
    public Action<long>? Progress { get; set; }

    /// <summary>Copying stopped for good (on-cbw-error=break-snapshot after a failure): the target is not a snapshot any more.</summary>
    public bool Broken { get; private set; }

    /// <summary>Bytes still to copy.</summary>
    public long Remaining => CopyBitmap.Count;

    /// <summary>
    /// Gives up on the snapshot: nothing more is copied, waiters go on. The copy bitmap keeps
    /// what was never copied, as qsd's does (queries show it).
    /// </summary>
    public void Break() => Broken = true;

    /// <summary>
    /// Makes sure the target holds the old data of every cluster [offset, offset + length)
    /// touches: copies the clusters nobody copied yet, waits for copies others have in flight.
    /// Returns the bytes this call copied itself. A failed copy puts its clusters back and throws.
    /// </summary>
    public async ValueTask<long> CopyAsync(long offset, long length, CancellationToken ct)
    {
        try
        {
            return await CopyCoreAsync(offset, length, ct).ConfigureAwait(false);
        }
        catch (SourceReadFailure e)
        {
            throw e.InnerException!;
        }
    }

    /// <summary>
    /// <see cref="CopyAsync"/> for a job, which must tell a failed read of the source from a
    /// failed write of the target (BLOCK_JOB_ERROR's operation): the failure comes back, not thrown.
    /// </summary>
    public async ValueTask<(long Copied, Exception? Error, bool ReadFailed)> TryCopyAsync(long offset, long length, CancellationToken ct)
    {
        try
        {
            return (await CopyCoreAsync(offset, length, ct).ConfigureAwait(false), null, false);
        }
        catch (SourceReadFailure e)
        {
            return (0, e.InnerException, true);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return (0, e, false);
        }
    }

    private sealed class SourceReadFailure(Exception inner) : Exception(inner.Message, inner);

    private async ValueTask<long> CopyCoreAsync(long offset, long length, CancellationToken ct)
    {
        long start = offset / ClusterSize * ClusterSize;
        long end = Math.Min(Length, offset + length);
        long copied = 0;
        while (!Broken)
        {
            var (claimed, waits) = Claim(start, end);
            if (claimed.Count == 0 && waits.Count == 0)
            {
                return copied;
            }
            if (claimed.Count > 0)
            {
                copied += await CopyClaimedAsync(claimed, ct).ConfigureAwait(false);
            }
            foreach (var wait in waits)
            {
                try
                {
                    await wait.WaitAsync(ct).ConfigureAwait(false);
                }
                catch (BlockException)
                {
                    // The other copy failed and put its clusters back: the next round claims them.
                }
            }
        }
        return copied;
    }

    /// <summary>The next dirty run at or after <paramref name="offset"/>, at most <paramref name="maxLength"/> long; null when none is left.</summary>
    public (long Offset, long Length)? NextDirty(long offset, long maxLength)
    {
        while (offset < Length)
        {
            var (dirty, length) = CopyBitmap.ExtentAt(offset, Length - offset);
            if (dirty)
            {
                return (offset, Math.Min(length, maxLength));
            }
            offset += length;
        }
        return null;
    }

    // Claims the dirty clusters of [start, end) that nobody copies, as contiguous runs, and
    // collects the copies in flight that cover the rest.
    private (List<(long Offset, long Length, TaskCompletionSource Done)> Claimed, List<Task> Waits) Claim(long start, long end)
    {
        var claimed = new List<(long, long, TaskCompletionSource)>();
        var waits = new List<Task>();
        lock (_lock)
        {
            long runStart = -1;
            for (long cluster = start; cluster < end; cluster += ClusterSize)
            {
                long index = cluster / ClusterSize;
                bool free = !_inFlight.ContainsKey(index) && CopyBitmap.IsDirty(cluster);
                if (_inFlight.TryGetValue(index, out var inFlight) && (waits.Count == 0 || waits[^1] != inFlight))
                {
                    waits.Add(inFlight);
                }
                if (free && runStart < 0)
                {
                    runStart = cluster;
                }
                bool runEnds = runStart >= 0 && (!free || cluster + ClusterSize >= end || cluster + ClusterSize - runStart >= ChunkSize);
                if (runEnds)
                {
                    long runEnd = free ? Math.Min(Length, cluster + ClusterSize) : cluster;
                    claimed.Add(StartRun(runStart, runEnd));
                    runStart = -1;
                }
            }
        }
        return (claimed, waits);
    }

    private (long, long, TaskCompletionSource) StartRun(long runStart, long runEnd)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        for (long c = runStart; c < runEnd; c += ClusterSize)
        {
            _inFlight[c / ClusterSize] = done.Task;
        }
        CopyBitmap.Reset(runStart, runEnd - runStart);
        return (runStart, runEnd - runStart, done);
    }

    private async ValueTask<long> CopyClaimedAsync(List<(long Offset, long Length, TaskCompletionSource Done)> runs, CancellationToken ct)
    {
        long copied = 0;
        Exception? failure = null;
        foreach (var (offset, length, done) in runs)
        {
            if (failure is null)
            {
                try
                {
                    await CopyRunAsync(offset, length, ct).ConfigureAwait(false);
                    copied += length;
                    Finish(offset, length, done, null);
                    _done?.Mark(offset, length);
                    Progress?.Invoke(length);
                    continue;
                }
                catch (Exception e)
                {
                    failure = e;
                }
            }
            // This run and every later claimed one go back to be copied by someone else.
            CopyBitmap.Mark(offset, length);
            Finish(offset, length, done, failure);
        }
        if (failure is not null)
        {
            throw failure;
        }
        return copied;
    }

    private void Finish(long offset, long length, TaskCompletionSource done, Exception? failure)
    {
        lock (_lock)
        {
            for (long c = offset; c < offset + length; c += ClusterSize)
            {
                _inFlight.Remove(c / ClusterSize);
            }
        }
        if (failure is null)
        {
            done.SetResult();
        }
        else
        {
            var inner = failure is SourceReadFailure read ? read.InnerException! : failure;
            done.SetException(inner is BlockException ? inner : new BlockException(BlockErrorKind.IoError, inner.Message, inner));
        }
    }

    private bool IsZeroCluster(ReadOnlySpan<byte> data, int at) =>
        data.Slice(at, (int)Math.Min(ClusterSize, data.Length - at)).IndexOfAnyExcept((byte)0) < 0;

    /// <summary>The filter is going: the kept buffers go back to the shared pool (or are freed).</summary>
    internal void ReleaseBuffers()
    {
        lock (_lock)
        {
            _released = true;
            while (_buffers.TryPop(out var buffer))
            {
                ((IDisposable)buffer).Dispose();
            }
        }
    }

    private AlignedBuffer RentBuffer()
    {
        lock (_lock)
        {
            if (_buffers.TryPop(out var kept))
            {
                return kept;
            }
        }
        return AlignedBufferPool.Rent(MaxChunk);
    }

    private void ReturnBuffer(AlignedBuffer buffer)
    {
        lock (_lock)
        {
            if (!_released)
            {
                _buffers.Push(buffer);
                return;
            }
        }
        ((IDisposable)buffer).Dispose();
    }

    private async ValueTask CopyRunAsync(long offset, long length, CancellationToken ct)
    {
        var buffer = RentBuffer();
        try
        {
            await CopyRunAsync(offset, length, buffer, ct).ConfigureAwait(false);
        }
        finally
        {
            ReturnBuffer(buffer);
        }
    }

    private async ValueTask CopyRunAsync(long offset, long length, AlignedBuffer buffer, CancellationToken ct)
    {
        for (long done = 0; done < length;)
        {
            int piece = (int)Math.Min(length - done, buffer.Memory.Length);
            var memory = buffer.Memory[..piece];
            try
            {
                await _source.ReadAsync(offset + done, memory, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new SourceReadFailure(e);
            }
            // Cluster by cluster, zeroes go out as write-zeroes (qsd asks block status for the
            // same), so the target stays sparse where the source reads as zeroes.
            for (int at = 0; at < piece;)
            {
                bool zero = IsZeroCluster(memory.Span, at);
                int run = at;
                while (run < piece && IsZeroCluster(memory.Span, run) == zero)
                {
                    run += (int)Math.Min(ClusterSize, piece - run);
                }
                if (zero)
                {
                    await _target.WriteZeroesAsync(offset + done + at, run - at, WriteFlags.None, ct).ConfigureAwait(false);
                }
                else
                {
                    await _target.WriteAsync(offset + done + at, memory[at..run], Compress ? WriteFlags.Compressed : WriteFlags.None, ct).ConfigureAwait(false);
                }
                at = run;
            }
            done += piece;
        }
    }
}
