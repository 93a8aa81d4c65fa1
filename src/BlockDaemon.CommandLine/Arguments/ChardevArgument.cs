using System.Text.Json.Nodes;
using BlockDaemon.CommandLine.QemuOpts;

namespace BlockDaemon.CommandLine.Arguments;

/// <summary>
/// --chardev BACKEND,id=ID[,OPTION=VALUE...] in QemuOpts syntax. Checks run in qsd's order:
/// option syntax and types, help requests, id, backend, then the socket backend's own rules.
/// </summary>
internal static class ChardevArgument
{
    /// <summary>Backends qsd 7.2 knows (including the deprecated aliases tty and parport).</summary>
    private static readonly HashSet<string> QsdBackends = new(StringComparer.Ordinal)
    {
        "file", "memory", "mux", "null", "parallel", "parport", "pipe", "pty",
        "ringbuf", "serial", "socket", "stdio", "tty", "udp",
    };

    /// <summary>What "--chardev help" lists: the backends we implement.</summary>
    private const string BackendList = "Available chardev backend types: \n  socket\n";

    public static DaemonOption Parse(string argument, List<(string Message, string Hint)> warnings)
    {
        QemuOptsResult result = QemuOptsParser.Parse(QemuOptsList.Chardev, argument, warnings);
        if (result.HelpRequested)
        {
            return new PrintHelpOption(QemuOptsList.Chardev.RenderHelp(), ExitCode: 1);
        }

        string? backend = result.Find("backend")?.Text;
        if (backend is "help" or "?")
        {
            return new PrintHelpOption(BackendList, ExitCode: 0);
        }

        string id = result.Id ?? throw new OptionSyntaxException("chardev: no id specified");
        if (backend is null)
        {
            OptionSyntaxException.Throw($"chardev: \"{id}\" missing backend");
        }

        if (!QsdBackends.Contains(backend))
        {
            OptionSyntaxException.Throw($"'{backend}' is not a valid char driver name");
        }

        if (backend != "socket")
        {
            OptionSyntaxException.Throw($"Chardev backend '{backend}' is not supported; use 'socket'");
        }

        ChardevSocketRules.Validate(result);
        return new ChardevOption(id, backend, ToProperties(result));
    }

    /// <summary>Typed properties, last value winning; id and backend are reported separately.</summary>
    private static JsonObject ToProperties(QemuOptsResult result)
    {
        var properties = new JsonObject();
        foreach (QemuOpt option in result.Options)
        {
            if (option.Name == "backend")
            {
                continue;
            }

            properties[option.Name] = option.Value switch
            {
                bool flag => JsonValue.Create(flag),
                ulong number => JsonValue.Create(number),
                _ => JsonValue.Create(option.Text),
            };
        }

        return properties;
    }
}
