using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Cli;

namespace BlockDaemon.Ctl.Jobs;

/// <summary>
/// blockctl commit: block-commit with virsh blockcommit's waiting rules. Without --top (or with
/// --top equal to DEVICE) it is an active commit: it never ends by itself but reaches READY,
/// where --pivot completes it (the base replaces the top in the graph), --keep-overlay ends it
/// leaving the top in place, and plain --wait stops waiting with the job left in READY.
/// </summary>
internal static class CommitCommand
{
    public const string Usage = "blockctl commit DEVICE [--top NODE] [--base NODE] [--backing-file NAME] [--job-id ID] [--speed BYTES] " +
        "[--wait] [--verbose] [--pivot|--keep-overlay] [--timeout SECONDS] [--abort-on-interrupt] [key=value ...]";

    public static async Task<int> RunAsync(CtlSession session, IReadOnlyList<string> words, CancellationToken ct)
    {
        var options = new OptionReader("commit", words,
            [.. JobHelper.WaitFlags, "pivot", "keep-overlay", "active"],
            [.. JobHelper.WaitValued, .. JobHelper.StartValued, "top", "base", "backing-file"]);
        string device = JobHelper.Required(options, 0, "DEVICE", Usage);
        JobHelper.NoMorePositionals(options, 1, Usage);
        string? top = options.Value("top");
        bool active = top is null || top == device;
        var onReady = JobHelper.ReadyActionOf(options, "pivot", "keep-overlay");
        if (!active && onReady != ReadyAction.LeaveRunning)
        {
            throw new UsageException("--pivot and --keep-overlay apply to an active commit only (--top omitted or equal to DEVICE)");
        }
        string jobId = options.Value("job-id") ?? device;
        var arguments = new JsonObject { ["job-id"] = jobId, ["device"] = device };
        if (top is not null)
        {
            arguments["top-node"] = top;
        }
        if (options.Value("base") is string b)
        {
            arguments["base-node"] = b;
        }
        if (options.Value("backing-file") is string backing)
        {
            arguments["backing-file"] = backing;
        }
        await JobHelper.CompleteArgumentsAsync(session, "block-commit", arguments, options, ct).ConfigureAwait(false);
        return await JobHelper.RunAsync(session, "block-commit", arguments, jobId, JobHelper.WantsWait(options, onReady),
            JobHelper.WaitOptions(options, "Block Commit", onReady),
            new JobHelper.Messages("Commit complete", "Now in synchronized phase", "Commit complete, overlay image kept"), ct).ConfigureAwait(false);
    }
}
