using BlockDaemon.Core.Options;

namespace BlockDaemon.TestKit;

/// <summary>
/// Builds <see cref="OptionDict"/>s the way the QMP layer hands them to the block layer: ints
/// become long, nested dicts stay <see cref="OptionDict"/>.
/// </summary>
public static class Opt
{
    public static OptionDict Dict(params (string Key, object? Value)[] items)
    {
        var dict = new OptionDict();
        foreach (var (key, value) in items)
        {
            dict.Set(key, Normalize(value));
        }
        return dict;
    }

    /// <summary>{"driver":"file","filename":path} plus a node name when given, plus extras.</summary>
    public static OptionDict File(string filename, string? nodeName = null, params (string Key, object? Value)[] extra) =>
        Node("file", nodeName, [("filename", filename), .. extra]);

    /// <summary>{"driver":"raw","file":file} where file is a node name or a child dict.</summary>
    public static OptionDict Raw(string? nodeName, object file, params (string Key, object? Value)[] extra) =>
        Node("raw", nodeName, [("file", file), .. extra]);

    public static OptionDict Null(string? nodeName = null, params (string Key, object? Value)[] extra) =>
        Node("null-co", nodeName, extra);

    public static OptionDict Memory(string? nodeName = null, params (string Key, object? Value)[] extra) =>
        Node("memory", nodeName, extra);

    public static OptionDict Node(string driver, string? nodeName, params (string Key, object? Value)[] extra)
    {
        var dict = Dict(("driver", driver));
        if (nodeName is not null)
        {
            dict.Set("node-name", nodeName);
        }
        foreach (var (key, value) in extra)
        {
            dict.Set(key, Normalize(value));
        }
        return dict;
    }

    private static object? Normalize(object? value) => value switch
    {
        int i => (long)i,
        uint u => (long)u,
        short s => (long)s,
        _ => value,
    };
}
