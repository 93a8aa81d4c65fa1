using BlockDaemon.Ctl.Cli;

namespace BlockDaemon.Ctl.Jobs;

/// <summary>
/// blockctl wait: follow a job that is already running (one left running by --timeout or Ctrl-C,
/// or started by anyone, e.g. blockdev-create), with the same progress and READY handling.
/// </summary>
internal static class WaitCommand
{
    public const string Usage = "blockctl wait JOB-ID [--verbose] [--pivot|--finish] [--dismiss] [--timeout SECONDS] [--abort-on-interrupt]";

    public static async Task<int> RunAsync(CtlSession session, IReadOnlyList<string> words, CancellationToken ct)
    {
        var options = new OptionReader("wait", words, [.. JobHelper.WaitFlags, "pivot", "finish", "dismiss"], JobHelper.WaitValued);
        string jobId = JobHelper.Required(options, 0, "JOB-ID", Usage);
        JobHelper.NoMorePositionals(options, 1, Usage);
        if (options.Extras.Count > 0)
        {
            throw new UsageException($"Unexpected argument '{options.Extras[0]}'; usage: {Usage}");
        }
        var onReady = JobHelper.ReadyActionOf(options, "pivot", "finish");
        var waitOptions = JobHelper.WaitOptions(options, "Job " + jobId, onReady) with { Dismiss = options.Has("dismiss") };
        var client = await session.ClientAsync(ct).ConfigureAwait(false);
        var outcome = await new JobWaiter(client, jobId, waitOptions, session.Console).WaitAsync(mustExist: true, session.Interrupt, ct).ConfigureAwait(false);
        return await JobHelper.ReportAsync(session.Console, jobId, outcome, waitOptions,
            new JobHelper.Messages($"Job '{jobId}' completed", $"Job '{jobId}' is ready", $"Job '{jobId}' completed")).ConfigureAwait(false);
    }
}
