using System.Text.Json.Nodes;

namespace BlockDaemon.CommandLine;

/// <summary>
/// <c>--chardev</c> (QemuOpts syntax). <paramref name="Properties"/> holds every option given
/// except <c>id</c> and <c>backend</c>, typed as QemuOpts declares them: booleans
/// (<c>server</c>, <c>wait</c>, ...) as JSON booleans, numbers and sizes as JSON numbers,
/// everything else (<c>path</c>, <c>host</c>, <c>port</c>, <c>fd</c>, ...) as strings. When an
/// option is repeated the last value wins, as in qsd.
/// </summary>
public sealed record ChardevOption(string Id, string Backend, JsonObject Properties) : DaemonOption;
