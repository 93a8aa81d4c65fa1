using BlockDaemon.CommandLine.Arguments;
using BlockDaemon.CommandLine.Getopt;

namespace BlockDaemon.CommandLine;

/// <summary>
/// The parsed command line, mirroring qemu-storage-daemon 7.2 (messages, exit codes, order).
/// qsd reads argv twice: a first pass acts on -h/-V and option-scanning errors (and --daemonize,
/// --pidfile); a second pass acts on everything else in command-line order. So
/// <c>--blockdev bad -h</c> prints help, while <c>--foo --help</c> fails.
/// </summary>
public sealed class DaemonCommandLine
{
    private DaemonCommandLine(CommandLineAction action, IReadOnlyList<DaemonOption> options, IReadOnlyList<string> ignored)
    {
        Action = action;
        Options = options;
        IgnoredArguments = ignored;
    }

    public CommandLineAction Action { get; }

    /// <summary>
    /// Every option in command-line order (empty unless <see cref="Action"/> is Run). The host
    /// applies the first-pass options (<see cref="DaemonizeOption"/>, <see cref="PidfileOption"/>,
    /// <see cref="ConfigOption"/>) before starting, then executes the others in order.
    /// </summary>
    public IReadOnlyList<DaemonOption> Options { get; }

    /// <summary>Words after <c>--</c>. qsd 7.2 stops scanning there and silently ignores them.</summary>
    public IReadOnlyList<string> IgnoredArguments { get; }

    /// <summary>The last --pidfile, or null.</summary>
    public string? PidFile => Options.OfType<PidfileOption>().LastOrDefault()?.Path;

    /// <summary>Whether --daemonize was given.</summary>
    public bool Daemonize => Options.OfType<DaemonizeOption>().Any();

    /// <summary>The last --config, or null.</summary>
    public string? ConfigFile => Options.OfType<ConfigOption>().LastOrDefault()?.Path;

    /// <summary>Parses <paramref name="args"/> (without the program name), failing at the first error.</summary>
    /// <exception cref="CommandLineException">The command line is invalid; the message is qsd's.</exception>
    public static DaemonCommandLine Parse(IReadOnlyList<string> args) => Parse(args, deferOptionErrors: false);

    /// <summary>
    /// Parses <paramref name="args"/> (without the program name). Option-scanning errors
    /// (unknown option, missing argument) always throw, as qsd fails on them before doing
    /// anything. With <paramref name="deferOptionErrors"/>, a malformed option argument becomes an
    /// <see cref="InvalidOption"/> at its place in <see cref="Options"/> (and parsing stops there),
    /// so the host reports it only after the options before it took effect, exactly like qsd.
    /// </summary>
    /// <exception cref="CommandLineException">The command line is invalid; the message is qsd's.</exception>
    public static DaemonCommandLine Parse(IReadOnlyList<string> args, bool deferOptionErrors)
    {
        ArgumentNullException.ThrowIfNull(args);
        IReadOnlyList<GetoptEvent> events = GetoptScanner.Scan(args, out IReadOnlyList<string> ignored);

        foreach (GetoptEvent scanned in events)
        {
            switch (scanned)
            {
                case ScanErrorEvent error:
                    throw new CommandLineException(null, error.Message);
                case OptionEvent { Kind: OptionKind.Help }:
                    return new DaemonCommandLine(CommandLineAction.Help, [], ignored);
                case OptionEvent { Kind: OptionKind.Version }:
                    return new DaemonCommandLine(CommandLineAction.Version, [], ignored);
            }
        }

        return new DaemonCommandLine(CommandLineAction.Run, SecondPass(events, deferOptionErrors), ignored);
    }

    private static List<DaemonOption> SecondPass(IReadOnlyList<GetoptEvent> events, bool deferOptionErrors)
    {
        var options = new List<DaemonOption>();
        var earlierWarnings = new List<CommandLineWarning>();
        foreach (GetoptEvent scanned in events)
        {
            string location = scanned switch
            {
                OptionEvent option => option.Location,
                NonOptionEvent word => word.Argument,
                _ => throw new InvalidOperationException($"{scanned} belongs to the first pass"),
            };
            var raw = new List<(string Message, string Hint)>();
            try
            {
                DaemonOption parsed = scanned is OptionEvent option
                    ? OptionInterpreter.Interpret(option, raw)
                    : throw new OptionSyntaxException("Unexpected argument");
                List<CommandLineWarning> warnings = ToWarnings(location, raw);
                options.Add(parsed with { Location = location, Warnings = warnings });
                earlierWarnings.AddRange(warnings);
            }
            catch (OptionSyntaxException ex)
            {
                List<CommandLineWarning> own = ToWarnings(location, raw);
                var failure = new CommandLineException(location, ex.Message, ex.Hint, deferOptionErrors ? own : [.. earlierWarnings, .. own]);
                if (!deferOptionErrors)
                {
                    throw failure;
                }

                // qsd never gets past a bad option, so nothing after it matters.
                options.Add(new InvalidOption(failure) { Location = location });
                break;
            }
        }

        return options;
    }

    private static List<CommandLineWarning> ToWarnings(string location, List<(string Message, string Hint)> raw) =>
        raw.Select(w => new CommandLineWarning(location, w.Message, w.Hint)).ToList();
}
