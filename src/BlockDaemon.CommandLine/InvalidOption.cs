namespace BlockDaemon.CommandLine;

/// <summary>
/// Only with deferred errors (<see cref="DaemonCommandLine.Parse(IReadOnlyList{string}, bool)"/>):
/// an option whose argument is malformed. qsd reports it only when it gets there, i.e. after the
/// options before it have taken effect (and possibly failed), so the host throws
/// <paramref name="Error"/> when it reaches this entry.
/// </summary>
public sealed record InvalidOption(CommandLineException Error) : DaemonOption;
