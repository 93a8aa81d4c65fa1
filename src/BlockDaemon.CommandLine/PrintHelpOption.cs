namespace BlockDaemon.CommandLine;

/// <summary>
/// An option that asks for a fixed help listing (<c>--chardev help</c>, <c>--chardev socket,help</c>,
/// <c>-T x,help</c>). When the host reaches it, it writes <paramref name="Text"/> to stdout and exits
/// with <paramref name="ExitCode"/>; qsd exits 1 after option listings and 0 after the backend list.
/// </summary>
public sealed record PrintHelpOption(string Text, int ExitCode) : DaemonOption;
