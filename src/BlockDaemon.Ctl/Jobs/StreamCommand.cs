using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Cli;

namespace BlockDaemon.Ctl.Jobs;

/// <summary>blockctl stream: block-stream (virsh blockpull): copy data from the backing chain into DEVICE, down to --base.</summary>
internal static class StreamCommand
{
    public const string Usage = "blockctl stream DEVICE [--base NODE | --bottom NODE] [--backing-file NAME] [--job-id ID] [--speed BYTES] " +
        "[--wait] [--verbose] [--timeout SECONDS] [--abort-on-interrupt] [key=value ...]";

    public static async Task<int> RunAsync(CtlSession session, IReadOnlyList<string> words, CancellationToken ct)
    {
        var options = new OptionReader("stream", words, JobHelper.WaitFlags,
            [.. JobHelper.WaitValued, .. JobHelper.StartValued, "base", "bottom", "backing-file"]);
        string device = JobHelper.Required(options, 0, "DEVICE", Usage);
        JobHelper.NoMorePositionals(options, 1, Usage);
        string jobId = options.Value("job-id") ?? device;
        var arguments = new JsonObject { ["job-id"] = jobId, ["device"] = device };
        if (options.Value("base") is string b)
        {
            arguments["base-node"] = b;
        }
        if (options.Value("bottom") is string bottom)
        {
            arguments["bottom"] = bottom;
        }
        if (options.Value("backing-file") is string backing)
        {
            arguments["backing-file"] = backing;
        }
        await JobHelper.CompleteArgumentsAsync(session, "block-stream", arguments, options, ct).ConfigureAwait(false);
        return await JobHelper.RunAsync(session, "block-stream", arguments, jobId, JobHelper.WantsWait(options, ReadyAction.LeaveRunning),
            JobHelper.WaitOptions(options, "Block Pull", ReadyAction.LeaveRunning),
            new JobHelper.Messages("Pull complete", "Pull complete", "Pull complete"), ct).ConfigureAwait(false);
    }
}
