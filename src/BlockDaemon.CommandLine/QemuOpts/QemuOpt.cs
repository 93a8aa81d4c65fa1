namespace BlockDaemon.CommandLine.QemuOpts;

/// <summary>One parsed option: its text and its typed value (string, bool or ulong).</summary>
internal sealed record QemuOpt(string Name, string Text, object Value);
