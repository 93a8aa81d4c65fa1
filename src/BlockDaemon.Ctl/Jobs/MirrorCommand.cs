using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Cli;

namespace BlockDaemon.Ctl.Jobs;

/// <summary>
/// blockctl mirror (virsh blockcopy): blockdev-mirror to the node TARGET, or drive-mirror to the
/// image file TARGET with --file. A mirror reaches READY and then copies new writes until told:
/// --pivot makes the target replace the source, --finish ends it leaving the source in place with
/// the target a consistent copy, plain --wait stops waiting with the job left mirroring.
/// </summary>
internal static class MirrorCommand
{
    public const string Usage = "blockctl mirror DEVICE TARGET [--sync full|top|none] [--file [--format FMT] [--mode existing|absolute-paths] [--target-node-name NAME]] " +
        "[--granularity BYTES] [--buf-size BYTES] [--job-id ID] [--speed BYTES] [--wait] [--verbose] [--pivot|--finish] [--timeout SECONDS] [--abort-on-interrupt] [key=value ...]";

    public static async Task<int> RunAsync(CtlSession session, IReadOnlyList<string> words, CancellationToken ct)
    {
        var options = new OptionReader("mirror", words, [.. JobHelper.WaitFlags, "pivot", "finish", "file", "shallow"],
            [.. JobHelper.WaitValued, .. JobHelper.StartValued, "sync", "format", "mode", "target-node-name", "granularity", "buf-size"]);
        string device = JobHelper.Required(options, 0, "DEVICE", Usage);
        string target = JobHelper.Required(options, 1, "TARGET", Usage);
        JobHelper.NoMorePositionals(options, 2, Usage);
        var onReady = JobHelper.ReadyActionOf(options, "pivot", "finish");
        string jobId = options.Value("job-id") ?? device;
        bool file = options.Has("file");
        if (!file && (options.Value("format") ?? options.Value("mode") ?? options.Value("target-node-name")) is not null)
        {
            throw new UsageException("--format, --mode and --target-node-name apply to an image file target (--file)");
        }
        string sync = options.Value("sync") ?? (options.Has("shallow") ? "top" : "full");
        var arguments = new JsonObject { ["job-id"] = jobId, ["device"] = device, ["target"] = target, ["sync"] = sync };
        if (file)
        {
            if (options.Value("format") is string format)
            {
                arguments["format"] = format;
            }
            if (options.Value("mode") is string mode)
            {
                arguments["mode"] = mode;
            }
            if (options.Value("target-node-name") is string nodeName)
            {
                arguments["node-name"] = nodeName;
            }
        }
        if (options.Integer("granularity") is long granularity)
        {
            arguments["granularity"] = granularity;
        }
        if (options.Integer("buf-size") is long bufSize)
        {
            arguments["buf-size"] = bufSize;
        }
        string command = file ? "drive-mirror" : "blockdev-mirror";
        await JobHelper.CompleteArgumentsAsync(session, command, arguments, options, ct).ConfigureAwait(false);
        return await JobHelper.RunAsync(session, command, arguments, jobId, JobHelper.WantsWait(options, onReady),
            JobHelper.WaitOptions(options, "Block Copy", onReady),
            new JobHelper.Messages("Copy complete", "Now in mirroring phase", "Successfully copied"), ct).ConfigureAwait(false);
    }
}
