using System.Text.Json.Nodes;

namespace BlockDaemon.CommandLine;

/// <summary><c>--nbd-server</c>: arguments for nbd-server-start; string leaves when <paramref name="FromKeyval"/>.</summary>
public sealed record NbdServerOption(JsonObject Options, bool FromKeyval) : DaemonOption;
