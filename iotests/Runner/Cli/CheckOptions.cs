using BlockDaemon.IoTests.Daemon;

namespace BlockDaemon.IoTests.Cli;

/// <summary>
/// The runner's command line:
/// <c>iotests-runner [--daemon qsd|blockd] [--record] [--blockd PATH] [--qsd PATH] [-v] [TEST...]</c>.
/// </summary>
public sealed record CheckOptions
{
    public const string Usage =
        "usage: iotests/check [--daemon qsd|blockd] [--record] [--blockd PATH] [--qsd PATH] [-v] [TEST...]";

    public DaemonKind Daemon { get; init; } = DaemonKind.Blockd;

    public bool Record { get; init; }

    public string? BlockdPath { get; init; }

    public string? QsdPath { get; init; }

    public bool Verbose { get; init; }

    public bool Help { get; init; }

    public IReadOnlyList<string> Tests { get; init; } = [];

    /// <exception cref="ArgumentException">The command line is malformed; the message says how.</exception>
    public static CheckOptions Parse(IReadOnlyList<string> args)
    {
        var options = new CheckOptions();
        var tests = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            string Value() => ++i < args.Count ? args[i] : throw new ArgumentException($"{args[i - 1]} needs a value");
            switch (args[i])
            {
                case "--daemon":
                    var name = Value();
                    options = DaemonKindNames.TryParse(name, out var kind)
                        ? options with { Daemon = kind }
                        : throw new ArgumentException($"--daemon must be qsd or blockd, not '{name}'");
                    break;
                case "--record":
                    options = options with { Record = true };
                    break;
                case "--blockd":
                    options = options with { BlockdPath = Path.GetFullPath(Value()) };
                    break;
                case "--qsd":
                    options = options with { QsdPath = Value() };
                    break;
                case "-v" or "--verbose":
                    options = options with { Verbose = true };
                    break;
                case "-h" or "--help":
                    options = options with { Help = true };
                    break;
                case var other when other.StartsWith('-'):
                    throw new ArgumentException($"unknown option '{other}'");
                default:
                    tests.Add(args[i]);
                    break;
            }
        }

        if (options.Record && options.Daemon != DaemonKind.Qsd)
        {
            throw new ArgumentException("goldens are recorded from qsd (--daemon qsd --record); edit a NNN-name.blockd.out override by hand");
        }

        return options with { Tests = tests };
    }
}
