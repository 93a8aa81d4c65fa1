using System.Text;

namespace BlockDaemon.ImageTool.Cli;

/// <summary>The type of one -o option, which decides how QemuOpts parses and prints it.</summary>
public enum CreateOptionType
{
    String,
    Bool,
    Number,
    Size,
}

public sealed record CreateOptionDesc(string Name, CreateOptionType Type, string? Default, string Help);

/// <summary>
/// The -o options of one format, parsed as QemuOpts parses them ("key=value,key=value", ",,"
/// for a comma in a value, the last of repeated keys wins) and printed in the option list's
/// order for the "Formatting ..." line, with defaults where the list has them.
/// </summary>
public sealed class CreateOptionList
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public CreateOptionList(IReadOnlyList<CreateOptionDesc> descs) => Descs = descs;

    public IReadOnlyList<CreateOptionDesc> Descs { get; }

    public static readonly CreateOptionDesc[] Qcow2 =
    [
        new("encryption", CreateOptionType.Bool, null, "Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)"),
        new("encrypt.format", CreateOptionType.String, null, "Encrypt the image, format choices: 'aes', 'luks'"),
        new("cluster_size", CreateOptionType.Size, "65536", "qcow2 cluster size"),
        new("extended_l2", CreateOptionType.Bool, "off", "Extended L2 tables"),
        new("preallocation", CreateOptionType.String, null, "Preallocation mode (allowed values: off, metadata, falloc, full)"),
        new("compression_type", CreateOptionType.String, "zlib", "Compression method used for image cluster compression"),
        new("size", CreateOptionType.Size, null, "Virtual disk size"),
        new("compat", CreateOptionType.String, null, "Compatibility level (v2 [0.10] or v3 [1.1])"),
        new("backing_file", CreateOptionType.String, null, "File name of a base image"),
        new("backing_fmt", CreateOptionType.String, null, "Image format of the base image"),
        new("data_file", CreateOptionType.String, null, "File name of an external data file"),
        new("data_file_raw", CreateOptionType.Bool, null, "The external data file must stay valid as a raw image"),
        new("lazy_refcounts", CreateOptionType.Bool, "off", "Postpone refcount updates"),
        new("refcount_bits", CreateOptionType.Number, "16", "Width of a reference count entry in bits"),
    ];

    public static readonly CreateOptionDesc[] Raw =
    [
        new("size", CreateOptionType.Size, null, "Virtual disk size"),
        new("preallocation", CreateOptionType.String, null, "Preallocation mode (allowed values: off, falloc, full)"),
        new("nocow", CreateOptionType.Bool, null, "Turn off copy-on-write (valid only on btrfs)"),
        new("extent_size_hint", CreateOptionType.Size, null, "Extent size hint for the image file, 0 to disable"),
    ];

    public static CreateOptionList For(string format) => new(format == "qcow2" ? Qcow2 : Raw);

    /// <summary>Whether any -o argument asks for help ("help" or "?").</summary>
    public static bool WantsHelp(IEnumerable<string> arguments) =>
        arguments.Any(a => SplitPairs(a).Any(p => p.Key is "help" or "?"));

    public void Parse(string text)
    {
        foreach (var (key, value) in SplitPairs(text))
        {
            var desc = Descs.FirstOrDefault(d => d.Name == key) ?? throw new ToolException($"Invalid parameter '{key}'");
            if (value is null && desc.Type != CreateOptionType.Bool)
            {
                throw TypeError(desc);
            }
            string v = value ?? "on";
            switch (desc.Type)
            {
                case CreateOptionType.Bool when v is not ("on" or "off" or "yes" or "no" or "true" or "false" or "y" or "n"):
                case CreateOptionType.Number when !ulong.TryParse(v, out _):
                case CreateOptionType.Size when !Sizes.TryParse(v, out _, out _):
                    throw TypeError(desc);
            }
            _values[key] = v;
        }
    }

    private static ToolException TypeError(CreateOptionDesc desc) => desc.Type switch
    {
        CreateOptionType.Bool => new($"Parameter '{desc.Name}' expects 'on' or 'off'"),
        CreateOptionType.Number => new($"Parameter '{desc.Name}' expects a number"),
        _ => new($"Parameter '{desc.Name}' expects a non-negative number below 2^64")
        {
            Hint = "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.\n",
        },
    };

    public void Set(string key, string value) => _values[key] = value;

    public bool IsSet(string key) => _values.ContainsKey(key);

    public string? Get(string key) => _values.TryGetValue(key, out var v) ? v : Descs.FirstOrDefault(d => d.Name == key)?.Default;

    public bool GetBool(string key) => Get(key) is "on" or "yes" or "true" or "y";

    public long? GetSize(string key) => Get(key) is { } v && Sizes.TryParse(v, out long n, out _) ? n : null;

    /// <summary>The option part of the "Formatting" line: sizes as numbers, the rest as given.</summary>
    public string Describe()
    {
        var parts = new List<string>();
        foreach (var desc in Descs)
        {
            bool set = _values.TryGetValue(desc.Name, out var value);
            value ??= desc.Default;
            if (value is null)
            {
                continue;
            }
            parts.Add(desc.Type == CreateOptionType.Size && set ? $"{desc.Name}={GetSize(desc.Name)}" : $"{desc.Name}={value}");
        }
        return string.Join(' ', parts);
    }

    public string HelpText(string format)
    {
        var sb = new StringBuilder($"Supported {format} options:\n");
        foreach (var desc in Descs.OrderBy(d => d.Name, StringComparer.Ordinal))
        {
            string type = desc.Type switch
            {
                CreateOptionType.Bool => "bool (on/off)",
                CreateOptionType.Number => "num",
                CreateOptionType.Size => "size",
                _ => "str",
            };
            sb.Append($"  {$"{desc.Name}=<{type}>",-22} - {desc.Help}\n");
        }
        sb.Append("\nThe protocol level may support further options.\nSpecify the target filename to include those options.\n");
        return sb.ToString();
    }

    /// <summary>"a=1,b=x,,y,c" as (a,1), (b,"x,y"), (c,null).</summary>
    public static IEnumerable<(string Key, string? Value)> SplitPairs(string text)
    {
        int i = 0;
        while (i < text.Length)
        {
            int eq = -1;
            var key = new StringBuilder();
            while (i < text.Length && text[i] != ',' && text[i] != '=')
            {
                key.Append(text[i++]);
            }
            if (i < text.Length && text[i] == '=')
            {
                eq = i++;
            }
            string? value = null;
            if (eq >= 0)
            {
                var sb = new StringBuilder();
                while (i < text.Length)
                {
                    if (text[i] == ',')
                    {
                        if (i + 1 < text.Length && text[i + 1] == ',')
                        {
                            sb.Append(',');
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    sb.Append(text[i++]);
                }
                value = sb.ToString();
            }
            i++;
            if (key.Length > 0 || value is not null)
            {
                yield return (key.ToString(), value);
            }
        }
    }
}
