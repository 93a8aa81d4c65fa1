using System.Text.Json.Nodes;

namespace BlockDaemon.CommandLine;

/// <summary>
/// <c>--blockdev</c>: arguments for blockdev-add. With <paramref name="FromKeyval"/> every leaf is
/// a string (dotted keys became nested objects, numeric keys arrays); the schema layer converts
/// them as QEMU's keyval input visitor does. Otherwise the argument was JSON and keeps its types.
/// </summary>
public sealed record BlockdevOption(JsonObject Options, bool FromKeyval) : DaemonOption;
