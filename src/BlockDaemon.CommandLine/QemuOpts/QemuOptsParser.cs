using System.Text;

namespace BlockDaemon.CommandLine.QemuOpts;

/// <summary>
/// QEMU's older option syntax (util/qemu-option.c), used by --chardev and -T:
/// <code>
///   opts     = [ first { ',' element } ]
///   first    = value-of-implied-option | element
///   element  = name '=' value | flag
///   value    = { any char but ',' | ',,' }        (',,' stands for ',')
///   flag     = name | 'no' name                    (deprecated short form of name=on / name=off)
/// </code>
/// <c>id</c> is special: the first <c>id=</c> element names the option group (it must be a
/// well-formed identifier) and is otherwise ignored. A <c>help</c> or <c>?</c> flag stops parsing
/// and asks for the option listing. Values are validated as they come, so the first bad element
/// fails; repeated options keep every value and the last one counts.
/// </summary>
internal static class QemuOptsParser
{
    private const string IdHint = "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.";

    /// <summary>Parses <paramref name="text"/>; deprecation warnings are appended to <paramref name="warnings"/>.</summary>
    public static QemuOptsResult Parse(QemuOptsList list, string text, List<(string Message, string Hint)> warnings)
    {
        string? id = FindId(text);
        if (id is not null && !IsWellFormedId(id))
        {
            OptionSyntaxException.Throw("Parameter 'id' expects an identifier", IdHint);
        }

        var options = new List<QemuOpt>();
        string? implied = list.ImpliedOption;
        int position = 0;
        while (position < text.Length)
        {
            Element element = ReadElement(text, ref position, implied);
            implied = null;
            if (element.IsFlag)
            {
                if (element.Name is "help" or "?" && element.Prefix.Length == 0)
                {
                    return new QemuOptsResult(id, options, HelpRequested: true);
                }

                warnings.Add(FlagWarning(element));
            }

            if (element.Name == "id")
            {
                continue;
            }

            if (!list.Options.TryGetValue(element.Name, out QemuOptType type))
            {
                OptionSyntaxException.Throw($"Invalid parameter '{element.Name}'");
            }

            options.Add(new QemuOpt(element.Name, element.Value, Convert(type, element.Name, element.Value)));
        }

        return new QemuOptsResult(id, options, HelpRequested: false);
    }

    private static object Convert(QemuOptType type, string name, string value) => type switch
    {
        QemuOptType.Bool => QemuOptValue.ParseBool(name, value),
        QemuOptType.Number => QemuOptValue.ParseNumber(name, value),
        QemuOptType.Size => QemuOptValue.ParseSize(name, value),
        _ => value,
    };

    private static (string Message, string Hint) FlagWarning(Element flag)
    {
        string message = $"short-form boolean option '{flag.Prefix}{flag.Name}' deprecated";
        string hint = flag.Name == "delay"
            ? $"Please use nodelay={(flag.Prefix.Length > 0 ? "on" : "off")} instead"
            : $"Please use {flag.Name}={flag.Value} instead";
        return (message, hint);
    }

    /// <summary>The value of the first <c>id=</c> element, reading every element as named (no implied option).</summary>
    private static string? FindId(string text)
    {
        int position = 0;
        while (position < text.Length)
        {
            Element element = ReadElement(text, ref position, implied: null);
            if (element.Name == "id")
            {
                return element.Value;
            }
        }

        return null;
    }

    /// <summary>Letters, digits, '-', '.', '_', starting with a letter.</summary>
    private static bool IsWellFormedId(string id) =>
        id.Length > 0 && char.IsAsciiLetter(id[0]) &&
        id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_');

    private readonly record struct Element(string Name, string Value, bool IsFlag, string Prefix);

    private static Element ReadElement(string text, ref int position, string? implied)
    {
        int nameEnd = text.IndexOfAny(['=', ','], position);
        if (nameEnd < 0)
        {
            nameEnd = text.Length;
        }

        Element element;
        if (nameEnd < text.Length && text[nameEnd] == '=')
        {
            string name = text[position..nameEnd];
            position = nameEnd + 1;
            element = new Element(name, ReadValue(text, ref position), IsFlag: false, Prefix: "");
        }
        else if (implied is not null)
        {
            element = new Element(implied, ReadValue(text, ref position), IsFlag: false, Prefix: "");
        }
        else
        {
            string name = text[position..nameEnd];
            position = nameEnd;
            element = name.StartsWith("no", StringComparison.Ordinal)
                ? new Element(name[2..], "off", IsFlag: true, Prefix: "no")
                : new Element(name, "on", IsFlag: true, Prefix: "");
        }

        if (position < text.Length && text[position] == ',')
        {
            position++;
        }

        return element;
    }

    /// <summary>Reads up to the next single ',' (left unconsumed), turning ',,' into ','.</summary>
    private static string ReadValue(string text, ref int position)
    {
        var value = new StringBuilder();
        while (position < text.Length)
        {
            char c = text[position];
            if (c == ',')
            {
                if (position + 1 < text.Length && text[position + 1] == ',')
                {
                    value.Append(',');
                    position += 2;
                    continue;
                }

                break;
            }

            value.Append(c);
            position++;
        }

        return value.ToString();
    }
}
