namespace BlockDaemon.CommandLine.Getopt;

/// <summary>One entry of the long-option table.</summary>
internal sealed record LongOption(string Name, bool TakesArgument, OptionKind Kind)
{
    /// <summary>
    /// The table in the order getopt lists ambiguous candidates. qsd's options are alphabetical;
    /// <c>config</c> is ours and makes <c>--c</c> ambiguous where qsd would take it as --chardev.
    /// </summary>
    public static readonly IReadOnlyList<LongOption> Table =
    [
        new("blockdev", true, OptionKind.Blockdev),
        new("chardev", true, OptionKind.Chardev),
        new("config", true, OptionKind.Config),
        new("daemonize", false, OptionKind.Daemonize),
        new("export", true, OptionKind.Export),
        new("help", false, OptionKind.Help),
        new("monitor", true, OptionKind.Monitor),
        new("nbd-server", true, OptionKind.NbdServer),
        new("object", true, OptionKind.Object),
        new("pidfile", true, OptionKind.Pidfile),
        new("trace", true, OptionKind.Trace),
        new("version", false, OptionKind.Version),
    ];
}
