using System.Text.Json.Nodes;
using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Options;
using BlockDaemon.Jobs.Backup;
using BlockDaemon.Jobs.BlockJobs;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// blockdev-backup: do_backup_common's and backup_job_create's checks in their order and words,
/// then the copy-before-write filter above the source and the job. Split into the steps of a
/// transaction action (<see cref="BackupStart"/>), which the command runs back to back.
/// </summary>
public static class BlockdevBackupCommand
{
    internal static void Register(CommandRegistry registry) => registry.Add("blockdev-backup", BlockdevBackup);

    private static async Task<JsonNode?> BlockdevBackup(CommandContext context, JsonObject arguments)
    {
        // qsd runs it as a transaction of one action, which begins with bdrv_drain_all.
        await context.Graph.DrainAllJobsAsync().ConfigureAwait(false);
        var bs = BlockJobCommands.FindDevice(context, arguments["device"]!.GetValue<string>());
        var target = BlockJobCommands.FindDevice(context, arguments["target"]!.GetValue<string>());
        var start = await BackupStart.PrepareAsync(context, arguments, bs, target).ConfigureAwait(false);
        await start.StartAsync().ConfigureAwait(false);
        start.Clean();
        return null;
    }
}

/// <summary>One backup on its way to running: checked and set up, then started, then let go.</summary>
internal sealed class BackupStart
{
    private readonly CommandContext _context;
    private readonly BackupJob _driver;
    private readonly Core.Jobs.Job _job;
    private bool _started;

    private BackupStart(CommandContext context, BackupJob driver, Core.Jobs.Job job)
    {
        _context = context;
        _driver = driver;
        _job = job;
    }

    /// <summary>
    /// Every check, then the bitmap frozen, the filter inserted and the job created (CREATED);
    /// nothing runs yet. A failure leaves nothing behind. As qsd's backup actions, the source is
    /// drained first (<paramref name="drained"/>, or begun here) until <see cref="Clean"/>: the
    /// jobs above it pause before any check, and resume when the command or transaction ends.
    /// </summary>
    public static async ValueTask<BackupStart> PrepareAsync(CommandContext context, JsonObject arguments, BlockNode bs, BlockNode target,
        bool ownsTarget = false, DrainedSection? drained = null)
    {
        drained ??= await context.Graph.DrainedBeginJobsAsync(bs).ConfigureAwait(false);
        try
        {
            var start = await PrepareCoreAsync(context, arguments, bs, target, ownsTarget).ConfigureAwait(false);
            start._drained = drained;
            return start;
        }
        catch
        {
            drained.End();
            throw;
        }
    }

    private DrainedSection? _drained;

    private static async ValueTask<BackupStart> PrepareCoreAsync(CommandContext context, JsonObject arguments, BlockNode bs, BlockNode target, bool ownsTarget)
    {
        var (options, bitmap) = Validate(context, arguments, bs, target);
        // bdrv_cbw_append, then block_job_create, checked before anything changes.
        string? filterName = arguments["filter-node-name"]?.GetValue<string>();
        if (filterName is not null)
        {
            try
            {
                context.Graph.CheckNewNodeName(filterName);
            }
            catch (BlockException e)
            {
                throw QmpException.Generic($"Could not create node: {e.Message}");
            }
        }
        long cluster = Core.Drivers.CopyBeforeWrite.CopyBeforeWriteDriver.CopyClusterSize(target);
        if (options.MaxChunk != 0 && options.MaxChunk < cluster)
        {
            throw QmpException.Generic($"Required max-chunk ({options.MaxChunk}) is less than backup cluster size ({cluster})");
        }
        string jobId = arguments["job-id"]?.GetValue<string>() ?? bs.NodeName;
        try
        {
            context.Jobs.CheckNewId(jobId);
        }
        catch (BlockException e)
        {
            throw QmpErrors.From(e);
        }
        long speed = arguments["speed"]?.GetValue<long>() ?? 0;
        if (speed < 0)
        {
            throw QmpException.Generic("Parameter 'speed' expects a non-negative value");
        }
        if (bitmap is not null)
        {
            bs.CreateSuccessor(bitmap);
        }
        BlockNode? filter = null;
        try
        {
            var cbw = new OptionDict();
            cbw.Set("driver", "copy-before-write");
            if (filterName is not null)
            {
                cbw.Set("node-name", filterName);
            }
            cbw.Set("file", bs.NodeName);
            cbw.Set("target", target.NodeName);
            if (options.Sync == BackupSync.Bitmap)
            {
                var reference = new OptionDict();
                reference.Set("node", bs.NodeName);
                reference.Set("name", bitmap!.Name);
                cbw.Set("bitmap", reference);
            }
            filter = await context.Graph.InsertFilterAsync(cbw, bs).ConfigureAwait(false);
            var driver = new BackupJob(context.Graph, BlockJobCommands.EventsFor(context), bs, target, filter, bitmap, options)
            {
                OwnsTarget = ownsTarget,
            };
            var job = context.Jobs.Create(jobId, driver, BlockJobCommands.Flags(arguments));
            driver.Attach(job);
            try
            {
                driver.SetSpeed(speed);
                driver.Acquire();
            }
            catch
            {
                await driver.CleanAsync(job).ConfigureAwait(false);
                job.EarlyFail();
                throw;
            }
            return new BackupStart(context, driver, job);
        }
        catch (Exception e)
        {
            if (filter is not null && context.Graph.FindNode(filter.NodeName) == filter)
            {
                await context.Graph.RemoveFilterAsync(filter).ConfigureAwait(false);
            }
            if (bitmap?.Successor is not null)
            {
                bs.ReclaimDirtyBitmap(bitmap);
            }
            throw e is BlockException be ? QmpErrors.From(be) : e;
        }
    }

    public BackupJob Driver => _driver;

    public Core.Jobs.Job Job => _job;

    /// <summary>RUNNING, then PAUSED at once: the source counts as drained until <see cref="Clean"/>.</summary>
    public async ValueTask StartAsync()
    {
        _driver.BeginSetupPause();
        _started = true;
        await _context.Jobs.StartAsync(_job, _context.ReplySent()).ConfigureAwait(false);
    }

    /// <summary>The end of the command or transaction: the job runs (RUNNING again).</summary>
    public void Clean()
    {
        if (_started)
        {
            _driver.EndSetupPause();
        }
        _drained?.End();
    }

    /// <summary>A transaction failed after this job was created: it ends without having run.</summary>
    public async ValueTask AbortAsync()
    {
        if (!_started)
        {
            await _job.CancelAsync(force: true).ConfigureAwait(false);
        }
    }

    // do_backup_common, then backup_job_create's checks up to the filter.
    private static (BackupOptions Options, DirtyBitmap? Bitmap) Validate(CommandContext context, JsonObject arguments, BlockNode bs, BlockNode target)
    {
        string sync = arguments["sync"]!.GetValue<string>();
        string? bitmapName = arguments["bitmap"]?.GetValue<string>();
        string? mode = arguments["bitmap-mode"]?.GetValue<string>();
        if (sync is "bitmap" or "incremental" && bitmapName is null)
        {
            throw QmpException.Generic($"must provide a valid bitmap name for '{sync}' sync mode");
        }
        DirtyBitmap? bitmap = null;
        if (bitmapName is not null)
        {
            bitmap = bs.FindDirtyBitmap(bitmapName) ?? throw QmpException.Generic($"Bitmap '{bitmapName}' could not be found");
            if (sync == "incremental")
            {
                if (mode is not null && mode != "on-success")
                {
                    throw QmpException.Generic("Bitmap sync mode must be 'on-success' when using sync mode 'incremental'");
                }
                sync = "bitmap";
                mode = "on-success";
            }
            if (mode is null)
            {
                throw QmpException.Generic("Bitmap sync mode must be given when providing a bitmap");
            }
            Check(() => bitmap.Check(allowReadOnly: true));
            if (sync == "none")
            {
                throw QmpException.Generic("sync mode 'none' does not produce meaningful bitmap outputs");
            }
            if (mode == "never" && sync != "bitmap")
            {
                throw QmpException.Generic($"Bitmap sync mode 'never' has no meaningful effect when combined with sync mode '{sync}'");
            }
        }
        if (bitmapName is null && mode is not null)
        {
            throw QmpException.Generic("Cannot specify bitmap sync mode without a bitmap");
        }
        var perf = arguments["x-perf"] as JsonObject;
        long maxWorkers = perf?["max-workers"]?.GetValue<long>() ?? 64;
        long maxChunk = perf?["max-chunk"]?.GetValue<long>() ?? 0;
        bool compress = arguments["compress"]?.GetValue<bool>() ?? false;

        if (bs == target)
        {
            throw QmpException.Generic("Source and target cannot be the same");
        }
        if (compress && !target.Driver.Limits.SupportsCompressedWrites)
        {
            // qsd names the target's device, which a storage daemon's nodes do not have.
            throw QmpException.Generic("Compression is not supported for this drive ");
        }
        Check(bs.CheckNotBlocked);
        Check(target.CheckNotBlocked);
        if (maxWorkers < 1 || maxWorkers > int.MaxValue)
        {
            throw QmpException.Generic($"max-workers must be between 1 and {int.MaxValue}");
        }
        if (maxChunk < 0)
        {
            throw QmpException.Generic("max-chunk must be zero (which means no limit) or positive");
        }
        if (bitmap is not null && mode != "never")
        {
            Check(() => bitmap.Check());
        }
        if (bs.Length != target.Length)
        {
            throw QmpException.Generic("Source and target image have different sizes");
        }
        var options = new BackupOptions
        {
            Sync = sync switch { "top" => BackupSync.Top, "none" => BackupSync.None, "bitmap" => BackupSync.Bitmap, _ => BackupSync.Full },
            BitmapMode = mode switch { "never" => BitmapSyncMode.Never, "always" => BitmapSyncMode.Always, _ => BitmapSyncMode.OnSuccess },
            Compress = compress,
            OnSourceError = BlockJobEnumNames.ParseOnError(arguments["on-source-error"]?.GetValue<string>()),
            OnTargetError = BlockJobEnumNames.ParseOnError(arguments["on-target-error"]?.GetValue<string>()),
            MaxWorkers = (int)maxWorkers,
            MaxChunk = maxChunk,
        };
        return (options, bitmap);
    }

    private static void Check(Action check)
    {
        try
        {
            check();
        }
        catch (BlockException e)
        {
            throw QmpErrors.From(e);
        }
    }
}
