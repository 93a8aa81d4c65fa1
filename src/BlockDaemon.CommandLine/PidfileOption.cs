namespace BlockDaemon.CommandLine;

/// <summary><c>--pidfile</c>. qsd takes it in its first pass, before any other option is processed.</summary>
public sealed record PidfileOption(string Path) : DaemonOption;
