namespace BlockDaemon.Bench.QmpLatency;

/// <summary>One daemon under test: its label in the report, its binary and where that path came from.</summary>
internal sealed record DaemonSpec(string Label, string Path, string Origin);
