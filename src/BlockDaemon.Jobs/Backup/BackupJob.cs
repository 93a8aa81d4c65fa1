using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Drivers.CopyBeforeWrite;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Jobs;
using BlockDaemon.Jobs.BlockJobs;
using BlockDaemon.Jobs.Copy;

namespace BlockDaemon.Jobs.Backup;

/// <summary>
/// blockdev-backup / drive-backup (QEMU's block/backup.c): a copy-before-write filter sits above
/// the source from the start, so the target receives the source as it was at that instant; the
/// job copies every cluster the filter has not copied yet, in offset order, then removes the
/// filter. sync=none copies nothing itself and runs until cancelled (fleecing). A sync bitmap is
/// frozen for the job's life; a successor records the writes made meanwhile and the bitmap
/// mode decides, at the end, which bits the bitmap keeps.
/// </summary>
public sealed class BackupJob : BlockJob
{
    private readonly BackupOptions _options;
    private readonly DirtyBitmap? _syncBitmap;
    private readonly CopyBeforeWriteDriver _cbw;
    private bool _setupPause;

    public BackupJob(BlockGraph graph, IBlockJobEvents events, BlockNode source, BlockNode target, BlockNode filter,
        DirtyBitmap? syncBitmap, BackupOptions options)
        : base(graph, events, OnErrorPolicy.Report)
    {
        Source = source;
        Target = target;
        Filter = filter;
        _syncBitmap = syncBitmap;
        _options = options;
        _cbw = (CopyBeforeWriteDriver)filter.Driver;
        _cbw.State.Compress = options.Compress;
        if (options.MaxChunk > 0)
        {
            _cbw.State.ChunkSize = (int)Math.Clamp(options.MaxChunk, _cbw.State.ClusterSize, BlockCopyState.MaxChunk) / (int)_cbw.State.ClusterSize * (int)_cbw.State.ClusterSize;
        }
    }

    public override JobType Type => JobType.Backup;

    public BlockNode Source { get; }

    public BlockNode Target { get; }

    /// <summary>The copy-before-write node above the source.</summary>
    public BlockNode Filter { get; }

    /// <summary>drive-backup opened the target: it closes with the job.</summary>
    public bool OwnsTarget { get; init; }

    protected override OnErrorPolicy PolicyFor(bool read) => read ? _options.OnSourceError : _options.OnTargetError;

    // backup_error_action asks for the same chunk again after ignore as after stop.
    protected override bool IgnoreRetries => true;

    protected override bool WakesOnEverySpeed => true;

    /// <summary>The job's holds (QEMU: block_job_create on the filter, block_job_add_bdrv on the target).</summary>
    public void Acquire()
    {
        Use(Filter, BlockPermissions.None, BlockPermissions.All, jobChild: true);
        Use(Target, BlockPermissions.None, BlockPermissions.All, jobChild: true);
        Block(Filter);
        Block(Target);
        var progress = Job.Progress;
        _cbw.State.Progress = progress.Update;
        progress.SetRemaining(_cbw.State.Remaining);
    }

    /// <summary>
    /// The source is drained while the filter goes in, so qsd's job pauses at once and resumes
    /// when the command (or transaction) ends: call before JobManager.StartAsync, and
    /// <see cref="EndSetupPause"/> after it.
    /// </summary>
    public void BeginSetupPause()
    {
        _setupPause = true;
        Job.Pause();
    }

    public void EndSetupPause() => Job.Resume();

    protected override async ValueTask RunCoreAsync(Job job, CancellationToken ct)
    {
        if (_setupPause)
        {
            _setupPause = false;
            // Still on the control loop inside the starting command: PAUSED now, RUNNING when it resumes us.
            await job.EnterPauseForError().ConfigureAwait(false);
        }
        var state = _cbw.State;
        if (_options.Sync == BackupSync.None)
        {
            // Fleecing: the filter copies what the guest overwrites until the job is cancelled.
            while (true)
            {
                await job.SleepAsync(TimeSpan.FromHours(1), ct).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
            }
        }
        if (_options.Sync == BackupSync.Top)
        {
            await SkipUnallocatedAsync(job, state, ct).ConfigureAwait(false);
        }
        await CopyLoopAsync(job, state, ct).ConfigureAwait(false);
    }

    // sync=top: clusters the source's own layer does not hold are the backing chain's, which the
    // target's backing supplies; they leave the copy bitmap and the job's total.
    private async ValueTask SkipUnallocatedAsync(Job job, BlockCopyState state, CancellationToken ct)
    {
        var bottom = BlockGraph.BackingOf(Source);
        for (long offset = 0; offset < state.Length;)
        {
            await job.PausePointAsync().ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            var (allocated, _, length) = await ChainStatus.AllocatedAboveAsync(_cbw.File, bottom, offset, state.Length - offset, ct).ConfigureAwait(false);
            long start = (offset + state.ClusterSize - 1) / state.ClusterSize * state.ClusterSize;
            long end = offset + length >= state.Length ? state.Length : (offset + length) / state.ClusterSize * state.ClusterSize;
            if (!allocated && end > start)
            {
                state.CopyBitmap.Reset(start, end - start);
            }
            offset += length;
            job.Progress.SetRemaining(state.Remaining);
        }
    }

    private async ValueTask CopyLoopAsync(Job job, BlockCopyState state, CancellationToken ct)
    {
        var self = (ICopyJob)this;
        int workers = Math.Max(1, _options.MaxWorkers);
        long offset = 0;
        while (true)
        {
            await job.PausePointAsync().ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            var batch = new List<(long Offset, long Length)>();
            // Throttled, a chunk at a time, each paid for before the next (qsd's block-copy rate limit).
            int width = Limiter.Speed > 0 ? 1 : workers;
            for (long at = offset; batch.Count < width && state.NextDirty(at, state.ChunkSize) is { } run; at = run.Offset + run.Length)
            {
                batch.Add(run);
            }
            if (batch.Count == 0)
            {
                if (offset == 0 || state.Remaining == 0)
                {
                    return;
                }
                // Clusters a failed copy put back lie behind us: go round once more.
                offset = 0;
                continue;
            }
            long bytes = batch.Sum(r => r.Length);
            for (var delay = Limiter.Delay(); delay > TimeSpan.Zero; delay = Limiter.Delay())
            {
                await job.SleepAsync(delay < MaxSleep ? delay : MaxSleep, ct).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
            }
            Limiter.Account(bytes);
            var results = await Task.WhenAll(batch.Select(r => state.TryCopyAsync(r.Offset, r.Length, ct).AsTask())).ConfigureAwait(false);
            offset = batch[^1].Offset + batch[^1].Length;
            foreach (var (_, error, readFailed) in results)
            {
                if (error is null)
                {
                    continue;
                }
                ct.ThrowIfCancellationRequested();
                var action = await self.OnErrorAsync(readFailed ? CopyOperation.Read : CopyOperation.Write, error).ConfigureAwait(false);
                if (action == CopyErrorAction.Fail)
                {
                    throw error;
                }
                // Retry: the failed clusters are back in the copy bitmap; start again from the first.
                offset = 0;
                break;
            }
        }
    }

    private static readonly TimeSpan MaxSleep = TimeSpan.FromMilliseconds(100);

    public override ValueTask CommitAsync(Job job)
    {
        FinishSyncBitmap(success: true);
        return ValueTask.CompletedTask;
    }

    public override ValueTask AbortAsync(Job job)
    {
        FinishSyncBitmap(success: false);
        return ValueTask.CompletedTask;
    }

    // backup_cleanup_sync_bitmap.
    private void FinishSyncBitmap(bool success)
    {
        if (_syncBitmap?.Successor is null)
        {
            return;
        }
        bool sync = (success || _options.BitmapMode == BitmapSyncMode.Always) && _options.BitmapMode != BitmapSyncMode.Never;
        var bitmap = sync ? Source.AbdicateDirtyBitmap(_syncBitmap) : Source.ReclaimDirtyBitmap(_syncBitmap);
        if (!success && _options.BitmapMode == BitmapSyncMode.Always)
        {
            // What was not copied stays to be backed up next time.
            bitmap.MergeFrom(_cbw.State.CopyBitmap, keepBackup: false);
        }
    }

    public override async ValueTask CleanAsync(Job job)
    {
        _cbw.State.Progress = null;
        await base.CleanAsync(job).ConfigureAwait(false);
        if (Graph.FindNode(Filter.NodeName) == Filter)
        {
            await Graph.RemoveFilterAsync(Filter).ConfigureAwait(false);
        }
        if (OwnsTarget && Target.Parents.Count == 0 && Graph.FindNode(Target.NodeName) == Target)
        {
            await Graph.DiscardNodeAsync(Target).ConfigureAwait(false);
        }
    }
}
