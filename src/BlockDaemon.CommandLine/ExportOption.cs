using System.Text.Json.Nodes;

namespace BlockDaemon.CommandLine;

/// <summary><c>--export</c>: arguments for block-export-add; string leaves when <paramref name="FromKeyval"/>.</summary>
public sealed record ExportOption(JsonObject Options, bool FromKeyval) : DaemonOption;
