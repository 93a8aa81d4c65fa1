using System.Text.Json.Nodes;
using BlockDaemon.CommandLine.Getopt;

namespace BlockDaemon.CommandLine.Arguments;

/// <summary>Turns one scanned option into its <see cref="DaemonOption"/> (qsd's second pass).</summary>
internal static class OptionInterpreter
{
    /// <exception cref="OptionSyntaxException">The argument is malformed.</exception>
    public static DaemonOption Interpret(OptionEvent option, List<(string Message, string Hint)> warnings)
    {
        string argument = option.Argument ?? "";
        return option.Kind switch
        {
            OptionKind.Blockdev => Qapi(argument, "driver", (json, keyval) => new BlockdevOption(json, keyval)),
            OptionKind.Export => Qapi(argument, "type", (json, keyval) => new ExportOption(json, keyval)),
            OptionKind.NbdServer => Qapi(argument, null, (json, keyval) => new NbdServerOption(json, keyval)),
            OptionKind.Monitor => MonitorArgument.Parse(argument),
            OptionKind.Object => ObjectArgument.Parse(argument),
            OptionKind.Chardev => ChardevArgument.Parse(argument, warnings),
            OptionKind.Trace => TraceArgument.Parse(argument, warnings),
            OptionKind.Pidfile => new PidfileOption(argument),
            OptionKind.Daemonize => new DaemonizeOption(),
            OptionKind.Config => new ConfigOption(argument),
            _ => throw new InvalidOperationException($"Option {option.Kind} is handled in the first pass"),
        };
    }

    private static DaemonOption Qapi(string argument, string? impliedKey, Func<JsonObject, bool, DaemonOption> create)
    {
        JsonObject members = QapiArgument.Parse(argument, impliedKey, helpAllowed: false, out bool fromKeyval, out _);
        return create(members, fromKeyval);
    }
}
