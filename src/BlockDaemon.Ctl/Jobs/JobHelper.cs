using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Arguments;
using BlockDaemon.Ctl.Cli;
using BlockDaemon.Ctl.Qmp;
using BlockDaemon.Ctl.Schema;

namespace BlockDaemon.Ctl.Jobs;

/// <summary>
/// What commit, stream, mirror, backup and wait share: the wait options (--wait, --verbose,
/// --timeout, --abort-on-interrupt, --pivot/--finish), starting the job with typed extra
/// key=value arguments, following it and turning the outcome into messages and an exit code.
/// </summary>
internal static class JobHelper
{
    public static readonly string[] WaitFlags = ["wait", "verbose", "abort-on-interrupt"];

    public static readonly string[] WaitValued = ["timeout"];

    public static readonly string[] StartValued = ["job-id", "speed"];

    /// <summary>--timeout, --verbose and a ready action each imply --wait, as in virsh.</summary>
    public static bool WantsWait(OptionReader options, ReadyAction onReady) =>
        options.Has("wait") || options.Has("verbose") || options.Value("timeout") is not null || onReady != ReadyAction.LeaveRunning;

    public static JobWaitOptions WaitOptions(OptionReader options, string label, ReadyAction onReady) => new()
    {
        Label = label,
        Verbose = options.Has("verbose"),
        Timeout = options.Seconds("timeout") is double s ? TimeSpan.FromSeconds(s) : null,
        AbortOnInterrupt = options.Has("abort-on-interrupt"),
        OnReady = onReady,
    };

    public static ReadyAction ReadyActionOf(OptionReader options, string pivotFlag, string finishFlag)
    {
        if (options.Has(pivotFlag) && options.Has(finishFlag))
        {
            throw new UsageException($"--{pivotFlag} and --{finishFlag} cannot be used together");
        }
        return options.Has(pivotFlag) ? ReadyAction.Pivot : options.Has(finishFlag) ? ReadyAction.FinishWithoutPivot : ReadyAction.LeaveRunning;
    }

    /// <summary>Adds --speed and the extra key=value words (typed by the schema) to a job's arguments.</summary>
    public static async Task<JsonObject> CompleteArgumentsAsync(CtlSession session, string command, JsonObject arguments, OptionReader options, CancellationToken ct)
    {
        if (options.Integer("speed") is long speed)
        {
            arguments["speed"] = speed;
        }
        if (options.Extras.Count > 0)
        {
            var typing = new SchemaTyping(await session.SchemaAsync(ct).ConfigureAwait(false));
            var extra = typing.Arguments(command, DottedArguments.Parse(options.Extras));
            foreach (var (key, value) in extra.ToArray())
            {
                if (arguments.ContainsKey(key))
                {
                    throw new UsageException($"Argument '{key}' is given both by an option and as {key}=...");
                }
                extra.Remove(key);
                arguments[key] = value;
            }
        }
        return arguments;
    }

    /// <summary>Starts the job, then (if asked) follows it; returns the exit code.</summary>
    public static async Task<int> RunAsync(CtlSession session, string command, JsonObject arguments, string jobId, bool wait, JobWaitOptions waitOptions, Messages messages, CancellationToken ct)
    {
        var client = await session.ClientAsync(ct).ConfigureAwait(false);
        await client.ExecuteAsync(command, arguments, ct).ConfigureAwait(false);
        var console = session.Console;
        if (!wait)
        {
            await console.Out.WriteLineAsync($"{waitOptions.Label} started (job '{jobId}')").ConfigureAwait(false);
            return ExitCodes.Success;
        }
        var waiter = new JobWaiter(client, jobId, waitOptions, console);
        var outcome = await waiter.WaitAsync(mustExist: false, session.Interrupt, ct).ConfigureAwait(false);
        return await ReportAsync(console, jobId, outcome, waitOptions, messages).ConfigureAwait(false);
    }

    public static async Task<int> ReportAsync(CtlConsole console, string jobId, JobOutcome outcome, JobWaitOptions options, Messages messages)
    {
        string where = outcome.Total > 0 ? $", {outcome.Current * 100 / outcome.Total} % done" : "";
        switch (outcome.Kind)
        {
            case JobOutcomeKind.Completed:
                await console.Out.WriteLineAsync(outcome.Pivoted ? "Successfully pivoted"
                    : options.OnReady == ReadyAction.FinishWithoutPivot ? messages.Finished : messages.Completed).ConfigureAwait(false);
                return ExitCodes.Success;
            case JobOutcomeKind.ReadyLeftRunning:
                await console.Out.WriteLineAsync(messages.Ready).ConfigureAwait(false);
                return ExitCodes.Success;
            case JobOutcomeKind.Failed:
                await console.Error.WriteLineAsync($"blockctl: job '{jobId}' failed: {outcome.Error}").ConfigureAwait(false);
                return ExitCodes.CommandFailed;
            case JobOutcomeKind.Cancelled:
                await console.Error.WriteLineAsync($"blockctl: job '{jobId}' was cancelled").ConfigureAwait(false);
                return ExitCodes.CommandFailed;
            case JobOutcomeKind.TimedOut:
                await console.Error.WriteLineAsync(
                    $"blockctl: timed out after {options.Timeout!.Value.TotalSeconds:0.###} s; job '{jobId}' is still {outcome.LastStatus}{where} and was left running " +
                    $"(follow it with 'blockctl wait {jobId}', cancel it with 'blockctl job-cancel id={jobId}')").ConfigureAwait(false);
                return ExitCodes.TimedOut;
            case JobOutcomeKind.InterruptedLeftRunning:
                await console.Error.WriteLineAsync(
                    $"blockctl: interrupted; job '{jobId}' is still {outcome.LastStatus}{where} and was left running " +
                    $"(follow it with 'blockctl wait {jobId}', cancel it with 'blockctl job-cancel id={jobId}')").ConfigureAwait(false);
                return ExitCodes.Interrupted;
            default:
                await console.Error.WriteLineAsync($"blockctl: job '{jobId}' was cancelled on interrupt").ConfigureAwait(false);
                return ExitCodes.Interrupted;
        }
    }

    /// <summary>Check a name given by an option is a non-empty word.</summary>
    public static string Required(OptionReader options, int index, string what, string usage)
    {
        if (options.Positionals.Count <= index)
        {
            throw new UsageException($"Missing {what}; usage: {usage}");
        }
        return options.Positionals[index];
    }

    public static void NoMorePositionals(OptionReader options, int count, string usage)
    {
        if (options.Positionals.Count > count)
        {
            throw new UsageException($"Unexpected argument '{options.Positionals[count]}'; usage: {usage}");
        }
    }

    /// <summary>Whether the daemon has a command (CommandNotFound otherwise).</summary>
    public static async Task<bool> HasCommandAsync(CtlSession session, string command, CancellationToken ct)
    {
        QmpSchema schema = await session.SchemaAsync(ct).ConfigureAwait(false);
        return schema.ArgumentType(command) is not null;
    }

    /// <summary>The final lines of a helper, as virsh words them.</summary>
    public sealed record Messages(string Completed, string Ready, string Finished);
}
