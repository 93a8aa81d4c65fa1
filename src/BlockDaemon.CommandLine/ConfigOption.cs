namespace BlockDaemon.CommandLine;

/// <summary>
/// <c>--config FILE</c>: our extension, an appsettings-style JSON file. Like <c>--pidfile</c> it
/// belongs to the first pass; the parser only carries the path.
/// </summary>
public sealed record ConfigOption(string Path) : DaemonOption;
