using BlockDaemon.Ctl.Output;
using BlockDaemon.Ctl.Qmp;

namespace BlockDaemon.Ctl.Cli;

/// <summary>
/// blockctl events [NAME ...]: prints events as they arrive, one per line, until Ctrl-C,
/// --count events or --timeout. Names match case-insensitively and may hold '*' wildcards.
/// "Listening ..." goes to stderr once the connection is ready, so a script knows from when on
/// nothing is missed.
/// </summary>
internal static class EventsCommand
{
    public const string Usage = "blockctl events [NAME ...] [--count N] [--timeout SECONDS] [--json]";

    public static async Task<int> RunAsync(CtlSession session, IReadOnlyList<string> words, CancellationToken ct)
    {
        var options = new OptionReader("events", words, [], ["count", "timeout"]);
        if (options.Extras.Count > 0)
        {
            throw new UsageException($"Unexpected argument '{options.Extras[0]}'; usage: {Usage}");
        }
        long? count = options.Integer("count");
        double? timeout = options.Seconds("timeout");
        var patterns = options.Positionals;
        var client = await session.ClientAsync(ct).ConfigureAwait(false);
        var console = session.Console;
        await console.Error.WriteLineAsync($"Listening for events on {session.SocketPath} (Ctrl-C to stop)").ConfigureAwait(false);
        await console.Error.FlushAsync(ct).ConfigureAwait(false);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, session.Interrupt);
        if (timeout is double seconds)
        {
            stop.CancelAfter(TimeSpan.FromSeconds(seconds));
        }
        long printed = 0;
        try
        {
            while (count is null || printed < count)
            {
                if (!await client.Events.WaitToReadAsync(stop.Token).ConfigureAwait(false))
                {
                    await console.Error.WriteLineAsync("blockctl: the daemon closed the QMP connection").ConfigureAwait(false);
                    return ExitCodes.ConnectionFailed;
                }
                while ((count is null || printed < count) && client.Events.TryRead(out var e))
                {
                    if (patterns.Count == 0 || patterns.Any(p => Matches(p, e.Name)))
                    {
                        await console.Out.WriteLineAsync(EventFormatter.Format(e, session.Options.Json)).ConfigureAwait(false);
                        await console.Out.FlushAsync(ct).ConfigureAwait(false);
                        printed++;
                    }
                }
            }
            return ExitCodes.Success;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            if (session.Interrupt.IsCancellationRequested)
            {
                return ExitCodes.Interrupted;
            }
            // --timeout: a wanted count not reached is a timeout; following for a while is not.
            return count is null ? ExitCodes.Success : ExitCodes.TimedOut;
        }
    }

    /// <summary>Case-insensitive match with '*' for any run of characters.</summary>
    public static bool Matches(string pattern, string name)
    {
        return Match(pattern.ToUpperInvariant(), 0, name.ToUpperInvariant(), 0);

        static bool Match(string p, int i, string n, int j)
        {
            while (i < p.Length)
            {
                if (p[i] == '*')
                {
                    for (int k = j; k <= n.Length; k++)
                    {
                        if (Match(p, i + 1, n, k))
                        {
                            return true;
                        }
                    }
                    return false;
                }
                if (j >= n.Length || p[i] != n[j])
                {
                    return false;
                }
                i++;
                j++;
            }
            return j == n.Length;
        }
    }
}
