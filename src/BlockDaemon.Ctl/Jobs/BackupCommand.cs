using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Cli;

namespace BlockDaemon.Ctl.Jobs;

/// <summary>
/// blockctl backup: blockdev-backup to the node TARGET (drive-backup to an image file with --file).
/// --incremental BITMAP copies what the dirty bitmap marks (sync=incremental); on success the
/// daemon clears the bitmap, on failure it keeps it, so a retry copies the same data again.
/// </summary>
internal static class BackupCommand
{
    public const string Usage = "blockctl backup DEVICE TARGET [--sync full|top|none|incremental|bitmap] [--incremental BITMAP | --bitmap BITMAP [--bitmap-mode on-success|never|always]] " +
        "[--compress] [--file [--format FMT] [--mode existing|absolute-paths]] [--job-id ID] [--speed BYTES] [--wait] [--verbose] [--timeout SECONDS] [--abort-on-interrupt] [key=value ...]";

    public static async Task<int> RunAsync(CtlSession session, IReadOnlyList<string> words, CancellationToken ct)
    {
        var options = new OptionReader("backup", words, [.. JobHelper.WaitFlags, "compress", "file"],
            [.. JobHelper.WaitValued, .. JobHelper.StartValued, "sync", "incremental", "bitmap", "bitmap-mode", "format", "mode"]);
        string device = JobHelper.Required(options, 0, "DEVICE", Usage);
        string target = JobHelper.Required(options, 1, "TARGET", Usage);
        JobHelper.NoMorePositionals(options, 2, Usage);
        string jobId = options.Value("job-id") ?? device;
        string? incremental = options.Value("incremental");
        string? bitmap = options.Value("bitmap");
        if (incremental is not null && bitmap is not null)
        {
            throw new UsageException("--incremental BITMAP and --bitmap BITMAP cannot be used together");
        }
        if (incremental is not null && options.Value("sync") is string s && s != "incremental")
        {
            throw new UsageException($"--incremental means --sync incremental, not '{s}'");
        }
        bool file = options.Has("file");
        if (!file && (options.Value("format") ?? options.Value("mode")) is not null)
        {
            throw new UsageException("--format and --mode apply to an image file target (--file)");
        }
        string sync = options.Value("sync") ?? (incremental is not null ? "incremental" : "full");
        var arguments = new JsonObject { ["job-id"] = jobId, ["device"] = device, ["target"] = target, ["sync"] = sync };
        if ((incremental ?? bitmap) is string name)
        {
            arguments["bitmap"] = name;
        }
        if (options.Value("bitmap-mode") is string bitmapMode)
        {
            arguments["bitmap-mode"] = bitmapMode;
        }
        if (options.Has("compress"))
        {
            arguments["compress"] = true;
        }
        if (file && options.Value("format") is string format)
        {
            arguments["format"] = format;
        }
        if (file && options.Value("mode") is string mode)
        {
            arguments["mode"] = mode;
        }
        string command = file ? "drive-backup" : "blockdev-backup";
        await JobHelper.CompleteArgumentsAsync(session, command, arguments, options, ct).ConfigureAwait(false);
        return await JobHelper.RunAsync(session, command, arguments, jobId, JobHelper.WantsWait(options, ReadyAction.LeaveRunning),
            JobHelper.WaitOptions(options, "Block Backup", ReadyAction.LeaveRunning),
            new JobHelper.Messages("Backup complete", "Backup complete", "Backup complete"), ct).ConfigureAwait(false);
    }
}
