using BlockDaemon.Ctl.Jobs;
using BlockDaemon.Ctl.Qmp;
using BlockDaemon.Ctl.Shell;

namespace BlockDaemon.Ctl.Cli;

/// <summary>blockctl's entry point, independent of the process so tests can run it with captured text.</summary>
public static class CtlApp
{
    private static readonly Dictionary<string, string> HelperUsage = new(StringComparer.Ordinal)
    {
        ["commit"] = CommitCommand.Usage,
        ["stream"] = StreamCommand.Usage,
        ["mirror"] = MirrorCommand.Usage,
        ["backup"] = BackupCommand.Usage,
        ["wait"] = WaitCommand.Usage,
        ["events"] = EventsCommand.Usage,
        ["shell"] = "blockctl shell [--socket PATH] [--json]",
    };

    /// <param name="interrupt">Cancelled on the first Ctrl-C.</param>
    /// <param name="ct">Ends everything at once (tests' time limits).</param>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CtlConsole console, CancellationToken interrupt, CancellationToken ct)
    {
        GlobalOptions options;
        try
        {
            options = GlobalOptions.Parse(args);
        }
        catch (UsageException e)
        {
            await console.Error.WriteLineAsync("blockctl: " + e.Message).ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        if (options.Version)
        {
            await console.Out.WriteLineAsync("blockctl " + typeof(CtlApp).Assembly.GetName().Version?.ToString(3)).ConfigureAwait(false);
            return ExitCodes.Success;
        }
        if (options.Rest.Count == 0 || (options.Help && !HelperUsage.ContainsKey(options.Rest[0])))
        {
            await (options.Help ? console.Out : console.Error).WriteAsync(HelpText.Text).ConfigureAwait(false);
            return options.Help ? ExitCodes.Success : ExitCodes.Usage;
        }
        string command = options.Rest[0];
        if (options.Help)
        {
            await console.Out.WriteLineAsync("Usage: " + HelperUsage[command]).ConfigureAwait(false);
            return ExitCodes.Success;
        }
        var words = options.Rest.Skip(1).ToList();

        await using var session = new CtlSession(console, options, interrupt);
        // Job helpers decide themselves what Ctrl-C means while they wait (leave the job or cancel
        // it); for every other command it simply abandons the command.
        using var interruptible = CancellationTokenSource.CreateLinkedTokenSource(ct, interrupt);
        try
        {
            return command switch
            {
                "shell" => await ShellCommand.RunAsync(session, words, interruptible.Token).ConfigureAwait(false),
                "events" => await EventsCommand.RunAsync(session, words, ct).ConfigureAwait(false),
                "commit" => await CommitCommand.RunAsync(session, words, ct).ConfigureAwait(false),
                "stream" => await StreamCommand.RunAsync(session, words, ct).ConfigureAwait(false),
                "mirror" => await MirrorCommand.RunAsync(session, words, ct).ConfigureAwait(false),
                "backup" => await BackupCommand.RunAsync(session, words, ct).ConfigureAwait(false),
                "wait" => await WaitCommand.RunAsync(session, words, ct).ConfigureAwait(false),
                _ => await RawCommand.RunAsync(session, command, words, interruptible.Token).ConfigureAwait(false),
            };
        }
        catch (UsageException e)
        {
            await console.Error.WriteLineAsync("blockctl: " + e.Message).ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (QmpCommandException e)
        {
            if (options.Json && e.Reply.Count > 0)
            {
                await console.Out.WriteLineAsync(Output.JsonText.Compact(e.Reply)).ConfigureAwait(false);
            }
            await console.Error.WriteLineAsync(RawCommand.FormatError(e)).ConfigureAwait(false);
            return ExitCodes.CommandFailed;
        }
        catch (QmpConnectionException e)
        {
            await console.Error.WriteLineAsync("blockctl: " + e.Message).ConfigureAwait(false);
            return ExitCodes.ConnectionFailed;
        }
        catch (OperationCanceledException) when (interrupt.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            await console.Error.WriteLineAsync("blockctl: interrupted").ConfigureAwait(false);
            return ExitCodes.Interrupted;
        }
    }
}
