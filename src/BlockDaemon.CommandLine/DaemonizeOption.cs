namespace BlockDaemon.CommandLine;

/// <summary><c>--daemonize</c>. qsd takes it in its first pass, before any other option is processed.</summary>
public sealed record DaemonizeOption : DaemonOption;
