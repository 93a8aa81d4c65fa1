using BlockDaemon.Core.Drivers.MirrorTop;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Jobs.BlockJobs;

namespace BlockDaemon.Jobs.Copy;

/// <summary>
/// Keeps a target equal to a node the guest keeps writing (QEMU's mirror.c, which active commit
/// and drive/blockdev-mirror share): what has to be copied and every later guest write go into
/// one private dirty bitmap; the job copies dirty runs until none is left, goes READY, then keeps
/// copying new writes until block-job-complete (the last writes are copied with the source
/// drained, then the caller pivots) or a soft block-job-cancel (stop, no pivot).
/// </summary>
public sealed class LiveCopy
{
    private readonly BlockJob _job;
    private readonly BlockNode _source;
    private readonly BlockChild _sourceEdge;
    private readonly BlockChild _targetEdge;
    private readonly DirtyTracker _dirty;
    private readonly CopyOptions _chunks;
    private readonly Func<long, long, CancellationToken, ValueTask<CopyExtent>> _dirtyPlan;
    private static readonly TimeSpan MaxSleep = TimeSpan.FromMilliseconds(100);
    private readonly UnthrottledCopyJob _unthrottled;
    private readonly long _batchBytes;
    private long _counted;
    private volatile bool _completeRequested;
    private volatile bool _softCancelled;
    private readonly BlockNode? _filter;
    private readonly RangeLocks? _ranges;
    private readonly ActiveWrites? _activeWrites;

    /// <param name="dirtyPlan">How a dirty range is copied (default: as data); a mirror writes zeroes where the source reads as zeroes.</param>
    /// <param name="filter">The job's mirror_top node above the source: drained with it, and in write-blocking mode it sends guest writes to the target too.</param>
    public LiveCopy(BlockJob job, BlockNode source, BlockChild sourceEdge, BlockChild targetEdge, int granularity, CopyOptions chunks,
        Func<long, long, CancellationToken, ValueTask<CopyExtent>>? dirtyPlan = null, long batchBytes = 16L << 20,
        BlockNode? filter = null, bool writeBlocking = false)
    {
        _unthrottled = new UnthrottledCopyJob(job);
        _batchBytes = Math.Max(granularity, batchBytes);
        _job = job;
        _source = source;
        _sourceEdge = sourceEdge;
        _targetEdge = targetEdge;
        _chunks = chunks;
        _dirty = new DirtyTracker(source.Length, granularity);
        _dirtyPlan = dirtyPlan ?? ((_, n, _) => ValueTask.FromResult(new CopyExtent(n, CopyAction.Copy)));
        _filter = filter;
        if (writeBlocking)
        {
            if (filter?.Driver is not MirrorTopDriver)
            {
                throw new ArgumentException("Write-blocking mode needs the job's mirror_top filter", nameof(filter));
            }
            _ranges = new RangeLocks();
            _activeWrites = new ActiveWrites(_dirty, targetEdge, _ranges, () => job.Job.Progress);
        }
    }

    private MirrorTopDriver? FilterDriver => _filter?.Driver as MirrorTopDriver;

    /// <summary>block-job-complete was asked for (and no soft cancel came after READY).</summary>
    public bool PivotWanted => _completeRequested && !_softCancelled;

    /// <summary>Starts tracking guest writes to the source (before the job runs, on the control loop).</summary>
    public void Track()
    {
        _source.AddWriteObserver(_dirty);
        if (_activeWrites is not null)
        {
            FilterDriver!.ActiveWrites = _activeWrites;
        }
    }

    public void Untrack()
    {
        StopActiveWrites();
        _source.RemoveWriteObserver(_dirty);
    }

    // Once the job stops copying (complete, cancel, error) guest writes only pass through and are
    // tracked: what comes after the run is copied with the source drained or not at all (qsd's
    // copy_to_target needs a job that still runs).
    private void StopActiveWrites()
    {
        if (_activeWrites is not null && FilterDriver is { } driver && driver.ActiveWrites == _activeWrites)
        {
            driver.ActiveWrites = null;
        }
    }

    /// <summary>The bulk phase's bitmap: every range <paramref name="plan"/> does not skip must be copied.</summary>
    public async ValueTask MarkAsync(Func<long, long, CancellationToken, ValueTask<CopyExtent>> plan, long length, CancellationToken ct)
    {
        for (long offset = 0; offset < length;)
        {
            var extent = await plan(offset, length - offset, ct).ConfigureAwait(false);
            if (extent.Action != CopyAction.Skip)
            {
                _dirty.Written(offset, extent.Length);
            }
            offset += Math.Max(1, extent.Length);
        }
        SetTotalFromBitmap();
    }

    /// <summary>The whole source must be copied (a target that does not read as zeroes).</summary>
    public void MarkAll(long length)
    {
        _dirty.Written(0, length);
        SetTotalFromBitmap();
    }

    // The job's length is what has to be copied, as qsd's mirror counts it.
    private void SetTotalFromBitmap()
    {
        _counted = _dirty.DirtyBytes;
        _job.Job.Progress.SetRemaining(_counted);
    }

    /// <summary>Copies until clean, goes READY, then follows guest writes until complete or a soft cancel.</summary>
    public async ValueTask RunAsync(CancellationToken ct)
    {
        try
        {
            await RunLoopAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            StopActiveWrites();
        }
    }

    private async ValueTask RunLoopAsync(CancellationToken ct)
    {
        var job = _job.Job;
        bool ready = false;
        while (true)
        {
            var changed = _dirty.Changed;
            await CopyDirtyAsync(ct).ConfigureAwait(false);
            // As qsd's mirror: the target is durable before READY, and a failed flush goes through
            // the on-error policy as a write error of the run, not of the pivot.
            if (!ready && !await FlushTargetAsync().ConfigureAwait(false))
            {
                continue;
            }
            if (!ready)
            {
                await job.OnControlLoopAsync(() =>
                {
                    job.TransitionToReady(goingIdle: _dirty.DirtyBytes == 0 && !_completeRequested && !_softCancelled && job.PauseCount == 0);
                    return Task.FromResult(true);
                }).ConfigureAwait(false);
                ready = true;
            }
            if (_softCancelled)
            {
                return;
            }
            if (_completeRequested)
            {
                await OnLoopAsync(PauseOthers).ConfigureAwait(false);
                if (await CopyLastWritesAsync().ConfigureAwait(false))
                {
                    return;
                }
                // Going round again (a failed flush the policy let pass): qsd ends its drain here too.
                await OnLoopAsync(EndFinalDrain).ConfigureAwait(false);
                continue;
            }
            if (job.PauseCount > 0)
            {
                await job.PausePointAsync().ConfigureAwait(false);
                continue;
            }
            // Idle until a guest write, complete or cancel; a pause is served inside the sleep.
            await job.SleepAsync(TimeSpan.FromMilliseconds(100), ct, changed).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        }
    }

    // Like qsd's mirror_iteration, the speed limit is paid per batch of dirty data (up to the
    // buffer size) after it was sent, not per request: a throttled job copies a batch, then sleeps.
    private async ValueTask CopyDirtyAsync(CancellationToken ct)
    {
        while (true)
        {
            // A job woken early (resumed, or sped up) copies its next batch at once, as qsd's mirror does.
            for (var delay = _job.Limiter.Delay(); delay > TimeSpan.Zero; delay = _job.Limiter.Delay())
            {
                bool woken = await _job.Job.SleepAsync(delay < MaxSleep ? delay : MaxSleep, ct).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                if (woken)
                {
                    break;
                }
            }
            if (_dirty.TakeRun(0, _batchBytes) is not { } run)
            {
                return;
            }
            _job.Limiter.Account(run.Length);
            // Bytes counted in the total up front are used up first; later writes grow it.
            long counted = Math.Min(_counted, run.Length);
            _counted -= counted;
            _job.Job.Progress.IncreaseRemaining(run.Length - counted);
            var engine = new CopyEngine(_sourceEdge, _targetEdge, _dirtyPlan, _chunks);
            var held = _ranges is null ? null : await _ranges.AcquireCopyAsync(run.Offset, run.Offset + run.Length, ct).ConfigureAwait(false);
            try
            {
                await engine.RunAsync(_unthrottled, run.Offset, run.Offset + run.Length, ct, setTotal: false).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Whatever did not reach the target is still owed (a cancel without pivot keeps the copy consistent).
                _dirty.Written(run.Offset, run.Length);
                // An error the policy ignored is only a range to copy again (qsd's mirror re-dirties it).
                if (_unthrottled.TakeIgnored() != e)
                {
                    throw;
                }
                // Copying the run again is not new work: the job's length stays as it was, and the
                // run's progress (all of it reported, the ignored chunk too) is counted when it is copied again.
                _counted += run.Length;
                _job.Job.Progress.Update(-run.Length);
            }
            finally
            {
                if (held is not null)
                {
                    _ranges!.Release(held);
                }
            }
        }
    }

    private Task<bool> OnLoopAsync(Action action) => _job.Job.OnControlLoopAsync(() =>
    {
        action();
        return Task.FromResult(true);
    });

    /// <summary>
    /// The last copy and flush before the pivot, with the source drained, while the job still
    /// runs, so a failure is the job's error (BLOCK_JOB_ERROR, on-error policy) and leaves the
    /// source in use. False: go round again (the policy ignored or stopped and was resumed).
    /// </summary>
    private async ValueTask<bool> CopyLastWritesAsync()
    {
        await DrainAsync().ConfigureAwait(false);
        try
        {
            await CopyDirtyDrainedAsync().ConfigureAwait(false);
        }
        finally
        {
            EndDrain();
        }
        return await FlushTargetAsync().ConfigureAwait(false);
    }

    // False when the flush failed and the policy was ignore or stop (then resumed): the caller
    // goes round again, as qsd's mirror does after a failed mirror_flush.
    private async ValueTask<bool> FlushTargetAsync()
    {
        try
        {
            await _targetEdge.FlushAsync().ConfigureAwait(false);
            return true;
        }
        catch (BlockException e)
        {
            var action = await ((ICopyJob)_job).OnErrorAsync(CopyOperation.Write, e).ConfigureAwait(false);
            if (action == CopyErrorAction.Fail)
            {
                throw;
            }
            if (action == CopyErrorAction.Retry)
            {
                await _job.Job.PausePointAsync().ConfigureAwait(false);
            }
            return false;
        }
    }

    // The source is drained, so its driver is read directly (the edge would wait for the drain).
    private async ValueTask CopyDirtyDrainedAsync()
    {
        while (_dirty.TakeRun(0, 1 << 20) is { } run)
        {
            using var buffer = AlignedBufferPool.Rent((int)run.Length);
            var memory = buffer.Memory[..(int)run.Length];
            await _source.Driver.ReadAsync(run.Offset, memory, default).ConfigureAwait(false);
            await _targetEdge.WriteAsync(run.Offset, memory).ConfigureAwait(false);
            _job.Job.Progress.IncreaseRemaining(run.Length);
            _job.Job.Progress.Update(run.Length);
        }
    }

    public void Complete()
    {
        PauseOthers();
        _completeRequested = true;
        _dirty.Wake();
    }

    // qsd's mirror drains its source for the last copy and keeps it drained until its exit
    // (mirror_exit_common), so the other jobs above the source pause from block-job-complete (or
    // a soft cancel when READY) until the job's clean. On the control loop.
    private void PauseOthers() => _othersPaused ??= _source.Graph.PauseJobsAbove(_source, except: _job.Job);

    /// <summary>Resumes the jobs paused for the last copy; the job's CleanAsync calls it last (also idempotent).</summary>
    public void EndFinalDrain()
    {
        _othersPaused?.End();
        _othersPaused = null;
    }

    private DrainedSection? _othersPaused;

    /// <summary>After <see cref="Complete"/> or a soft <see cref="Cancel"/>, inside the command: until the jobs they paused are quiescent, as qsd's drain polls.</summary>
    public ValueTask WaitOthersPausedAsync() => _othersPaused?.WaitQuiescentAsync() ?? ValueTask.CompletedTask;

    /// <summary>Only a forced cancel (or one before READY) aborts; a soft one when READY ends the job without a pivot.</summary>
    public bool Cancel(bool force)
    {
        if (force || !_job.Job.IsReady)
        {
            return true;
        }
        PauseOthers();
        _softCancelled = true;
        _dirty.Wake();
        return false;
    }

    /// <summary>
    /// With the source drained no guest write can land: copies what the last ones left, makes the
    /// target durable, and runs <paramref name="pivot"/> before writes may go on.
    /// </summary>
    public async ValueTask FinishDrainedAsync(Action? pivot)
    {
        await DrainAsync().ConfigureAwait(false);
        try
        {
            // Writes that came after the run's last copy (normally none).
            await CopyDirtyDrainedAsync().ConfigureAwait(false);
            await _targetEdge.FlushAsync().ConfigureAwait(false);
            pivot?.Invoke();
        }
        finally
        {
            EndDrain();
        }
    }

    // The filter first: a guest write it holds (with its target write, in write-blocking mode)
    // finishes, and later ones wait above it; then whatever else writes to the source.
    private async ValueTask DrainAsync()
    {
        if (_filter is not null)
        {
            await _filter.Requests.DrainAsync().ConfigureAwait(false);
        }
        try
        {
            await _source.Requests.DrainAsync().ConfigureAwait(false);
        }
        catch
        {
            _filter?.Requests.EndDrain();
            throw;
        }
    }

    private void EndDrain()
    {
        _source.Requests.EndDrain();
        _filter?.Requests.EndDrain();
    }
}

/// <summary>The job as the copy engine sees it inside a batch whose rate limit <see cref="LiveCopy"/> already paid.</summary>
internal sealed class UnthrottledCopyJob(ICopyJob job) : ICopyJob
{
    public bool PauseRequested => job.PauseRequested;

    public RateLimiter Limiter { get; } = new();

    public ValueTask PausePointAsync() => job.PausePointAsync();

    public void ReportProgress(long bytes) => job.ReportProgress(bytes);

    public void SetTotal(long bytes) => job.SetTotal(bytes);

    public ValueTask<bool> SleepAsync(TimeSpan delay, CancellationToken ct) => job.SleepAsync(delay, ct);

    private Exception? _ignored;

    public async ValueTask<CopyErrorAction> OnErrorAsync(CopyOperation operation, Exception error)
    {
        var action = await job.OnErrorAsync(operation, error).ConfigureAwait(false);
        if (action == CopyErrorAction.Ignore)
        {
            Interlocked.CompareExchange(ref _ignored, error, null);
        }
        return action;
    }

    /// <summary>The first error the policy ignored since the last call (the one the engine ends with), cleared.</summary>
    public Exception? TakeIgnored() => Interlocked.Exchange(ref _ignored, null);
}
