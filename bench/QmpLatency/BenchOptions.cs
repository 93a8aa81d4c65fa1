using System.Globalization;
using System.Runtime.InteropServices;

namespace BlockDaemon.Bench.QmpLatency;

/// <summary>Command-line options of the bench and the resolution of the daemon binaries.</summary>
internal sealed class BenchOptions
{
    public const string BlockdLabel = "blockd";
    public const string QsdLabel = "qsd";
    public const string DefaultQsdPath = "/usr/bin/qemu-storage-daemon";

    public required DaemonSpec Blockd { get; init; }
    public required DaemonSpec Qsd { get; init; }
    public int Runs { get; init; } = 20;
    public int Calls { get; init; } = 2000;
    public int Warmup { get; init; } = 100;
    public int Nodes { get; init; } = 10;
    public TimeSpan Idle { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);
    public string? Only { get; init; }
    public string? JsonPath { get; init; }
    public bool ShowHelp { get; init; }

    /// <summary>The daemons to run, blockd first, filtered by <c>--only</c>.</summary>
    public IReadOnlyList<DaemonSpec> Daemons =>
        Only switch
        {
            BlockdLabel => [Blockd],
            QsdLabel => [Qsd],
            _ => [Blockd, Qsd],
        };

    public const string Usage = """
        usage: QmpLatency [options]

        Side-by-side start-up and QMP round-trip benchmark of blockd and qemu-storage-daemon.

          --blockd PATH     blockd binary (default: $BLOCKD, else the Native-AOT publish output
                            src/BlockDaemon/bin/Release/net10.0/<rid>/publish/blockd if present,
                            else the Release build src/BlockDaemon/bin/Release/net10.0/blockd)
          --qsd PATH        qemu-storage-daemon binary (default: /usr/bin/qemu-storage-daemon)
          --runs N          start-up measurements per daemon (default: 20)
          --calls N         timed query-named-block-nodes calls per daemon (default: 2000)
          --warmup N        untimed calls before the timed ones (default: 100)
          --nodes N         null-co nodes n0..n(N-1) given on the command line (default: 10)
          --idle SECS       how long the daemons sit idle before their RSS is read (default: 1)
          --timeout SECS    bound on start-up, on each QMP call and on shutdown (default: 10)
          --only qsd|blockd run one daemon only (no ratios)
          --json FILE       also write the figures as JSON to FILE
          -h, --help        this text
        """;

    public static BenchOptions Parse(IReadOnlyList<string> args, string? blockdEnv, string repoRoot)
    {
        string? blockd = null, qsd = null, only = null, json = null;
        int runs = 20, calls = 2000, warmup = 100, nodes = 10;
        double timeoutSeconds = 10, idleSeconds = 1;
        bool help = false;

        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string Value()
            {
                if (i + 1 >= args.Count)
                    throw new UsageException($"option {arg} needs a value");
                return args[++i];
            }

            switch (arg)
            {
                case "--blockd": blockd = Value(); break;
                case "--qsd": qsd = Value(); break;
                case "--runs": runs = ParseCount(arg, Value(), min: 1); break;
                case "--calls": calls = ParseCount(arg, Value(), min: 1); break;
                case "--warmup": warmup = ParseCount(arg, Value(), min: 0); break;
                case "--nodes": nodes = ParseCount(arg, Value(), min: 1); break;
                case "--timeout": timeoutSeconds = ParseSeconds(arg, Value()); break;
                case "--idle": idleSeconds = ParseSeconds(arg, Value()); break;
                case "--json": json = Value(); break;
                case "--only":
                    only = Value();
                    if (only is not (BlockdLabel or QsdLabel))
                        throw new UsageException($"--only takes '{QsdLabel}' or '{BlockdLabel}', not '{only}'");
                    break;
                case "-h" or "--help": help = true; break;
                default: throw new UsageException($"unknown argument '{arg}'");
            }
        }

        return new BenchOptions
        {
            Blockd = ResolveBlockd(blockd, blockdEnv, repoRoot),
            Qsd = qsd is null
                ? new DaemonSpec(QsdLabel, DefaultQsdPath, "default")
                : new DaemonSpec(QsdLabel, Path.GetFullPath(qsd), "--qsd"),
            Runs = runs,
            Calls = calls,
            Warmup = warmup,
            Nodes = nodes,
            Timeout = TimeSpan.FromSeconds(timeoutSeconds),
            Idle = TimeSpan.FromSeconds(idleSeconds),
            Only = only,
            JsonPath = json,
            ShowHelp = help,
        };
    }

    /// <summary>
    /// --blockd, then $BLOCKD, then the Native-AOT publish output (the shipped form, so the one whose
    /// start-up is worth comparing), then the plain Release build. The origin is printed in the report.
    /// </summary>
    private static DaemonSpec ResolveBlockd(string? option, string? env, string repoRoot)
    {
        if (option is not null)
            return new DaemonSpec(BlockdLabel, Path.GetFullPath(option), "--blockd");
        if (!string.IsNullOrEmpty(env))
            return new DaemonSpec(BlockdLabel, Path.GetFullPath(env), "$BLOCKD");

        string release = Path.Combine(repoRoot, "src", "BlockDaemon", "bin", "Release", "net10.0");
        string aot = Path.Combine(release, RuntimeInformation.RuntimeIdentifier, "publish", "blockd");
        if (File.Exists(aot))
            return new DaemonSpec(BlockdLabel, aot, "Native-AOT publish output");
        if (Directory.Exists(release))
        {
            // Published for another runtime identifier than the one this bench runs on (e.g. linux-musl-x64).
            string? other = Directory.EnumerateDirectories(release)
                .Select(dir => Path.Combine(dir, "publish", "blockd"))
                .Where(File.Exists)
                .OrderBy(path => path, StringComparer.Ordinal)
                .FirstOrDefault();
            if (other is not null)
                return new DaemonSpec(BlockdLabel, other, "Native-AOT publish output");
        }
        return new DaemonSpec(BlockdLabel, Path.Combine(release, "blockd"), "Release build output");
    }

    private static int ParseCount(string option, string text, int min)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value < min)
            throw new UsageException($"{option} takes an integer >= {min}, not '{text}'");
        return value;
    }

    private static double ParseSeconds(string option, string text)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
            || !(value > 0) || value > 3600)
            throw new UsageException($"{option} takes a number of seconds in (0, 3600], not '{text}'");
        return value;
    }
}
