namespace BlockDaemon.CommandLine.Getopt;

/// <summary>The options qsd knows, plus our <c>--config</c>.</summary>
internal enum OptionKind
{
    Blockdev,
    Chardev,
    Config,
    Daemonize,
    Export,
    Help,
    Monitor,
    NbdServer,
    Object,
    Pidfile,
    Trace,
    Version,
}
