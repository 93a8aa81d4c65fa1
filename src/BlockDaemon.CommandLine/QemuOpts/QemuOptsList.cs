namespace BlockDaemon.CommandLine.QemuOpts;

/// <summary>
/// A QemuOpts option list: its name (used in help captions), the option the first element
/// denotes when it has no '=', and the accepted options with their types.
/// </summary>
internal sealed class QemuOptsList
{
    public QemuOptsList(string name, string impliedOption, IReadOnlyDictionary<string, QemuOptType> options)
    {
        Name = name;
        ImpliedOption = impliedOption;
        Options = options;
    }

    public string Name { get; }

    public string ImpliedOption { get; }

    public IReadOnlyDictionary<string, QemuOptType> Options { get; }

    /// <summary>
    /// qsd's chardev options (every backend shares one list). We accept them all so that
    /// unknown names fail exactly where qsd fails; only the socket backend is implemented.
    /// </summary>
    public static QemuOptsList Chardev { get; } = new("chardev", "backend", new Dictionary<string, QemuOptType>(StringComparer.Ordinal)
    {
        ["abstract"] = QemuOptType.Bool,
        ["append"] = QemuOptType.Bool,
        ["backend"] = QemuOptType.String,
        ["chardev"] = QemuOptType.String,
        ["clipboard"] = QemuOptType.Bool,
        ["cols"] = QemuOptType.Number,
        ["debug"] = QemuOptType.Number,
        ["delay"] = QemuOptType.Bool,
        ["fd"] = QemuOptType.String,
        ["height"] = QemuOptType.Number,
        ["host"] = QemuOptType.String,
        ["ipv4"] = QemuOptType.Bool,
        ["ipv6"] = QemuOptType.Bool,
        ["localaddr"] = QemuOptType.String,
        ["localport"] = QemuOptType.String,
        ["logappend"] = QemuOptType.Bool,
        ["logfile"] = QemuOptType.String,
        ["mouse"] = QemuOptType.Bool,
        ["mux"] = QemuOptType.Bool,
        ["name"] = QemuOptType.String,
        ["nodelay"] = QemuOptType.Bool,
        ["path"] = QemuOptType.String,
        ["port"] = QemuOptType.String,
        ["reconnect"] = QemuOptType.Number,
        ["rows"] = QemuOptType.Number,
        ["server"] = QemuOptType.Bool,
        ["signal"] = QemuOptType.Bool,
        ["size"] = QemuOptType.Size,
        ["telnet"] = QemuOptType.Bool,
        ["tight"] = QemuOptType.Bool,
        ["tls-authz"] = QemuOptType.String,
        ["tls-creds"] = QemuOptType.String,
        ["tn3270"] = QemuOptType.Bool,
        ["to"] = QemuOptType.Number,
        ["wait"] = QemuOptType.Bool,
        ["websocket"] = QemuOptType.Bool,
        ["width"] = QemuOptType.Number,
    });

    /// <summary>qsd's -T/--trace options.</summary>
    public static QemuOptsList Trace { get; } = new("trace", "enable", new Dictionary<string, QemuOptType>(StringComparer.Ordinal)
    {
        ["enable"] = QemuOptType.String,
        ["events"] = QemuOptType.String,
        ["file"] = QemuOptType.String,
    });

    /// <summary>
    /// The listing qsd prints for "OPTION,help": a caption, then one sorted line per option.
    /// </summary>
    public string RenderHelp()
    {
        var lines = Options
            .Select(pair => $"  {pair.Key}=<{TypeName(pair.Value)}>")
            .Order(StringComparer.Ordinal)
            .ToList();
        return $"{Name} options:\n" + string.Concat(lines.Select(line => line + "\n"));
    }

    private static string TypeName(QemuOptType type) => type switch
    {
        QemuOptType.String => "str",
        QemuOptType.Bool => "bool (on/off)",
        QemuOptType.Number => "num",
        QemuOptType.Size => "size",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}
