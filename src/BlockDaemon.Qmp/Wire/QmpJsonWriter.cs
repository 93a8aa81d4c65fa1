using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BlockDaemon.Qmp.Wire;

/// <summary>
/// Serialises JSON as QEMU's qobject_to_json does: members in QDict order, ", " and ": "
/// separators, strings as ASCII with \uXXXX (upper-case hex) for everything outside 0x20..0x7E,
/// doubles with %.17g. Pretty mode indents by four spaces, as a `pretty=on` monitor does.
/// </summary>
public static class QmpJsonWriter
{
    public static string Write(JsonNode? node, bool pretty = false)
    {
        var builder = new StringBuilder();
        WriteValue(builder, node, pretty, 0);
        return builder.ToString();
    }

    private static void WriteValue(StringBuilder builder, JsonNode? node, bool pretty, int level)
    {
        switch (node)
        {
            case null:
                builder.Append("null");
                break;
            case JsonObject obj:
                WriteObject(builder, obj, pretty, level);
                break;
            case JsonArray array:
                WriteArray(builder, array, pretty, level);
                break;
            case JsonValue value:
                WriteScalar(builder, value);
                break;
        }
    }

    private static void WriteObject(StringBuilder builder, JsonObject obj, bool pretty, int level)
    {
        var keys = obj.Select(p => p.Key).ToArray();
        builder.Append('{');
        bool first = true;
        foreach (int i in QDictOrder.Order(keys))
        {
            Separator(builder, ref first, pretty, level + 1);
            WriteString(builder, keys[i]);
            builder.Append(": ");
            WriteValue(builder, obj[keys[i]], pretty, level + 1);
        }
        Close(builder, '}', pretty, level);
    }

    private static void WriteArray(StringBuilder builder, JsonArray array, bool pretty, int level)
    {
        builder.Append('[');
        bool first = true;
        foreach (var item in array)
        {
            Separator(builder, ref first, pretty, level + 1);
            WriteValue(builder, item, pretty, level + 1);
        }
        Close(builder, ']', pretty, level);
    }

    private static void Separator(StringBuilder builder, ref bool first, bool pretty, int level)
    {
        if (!first)
        {
            builder.Append(pretty ? "," : ", ");
        }
        first = false;
        if (pretty)
        {
            builder.Append('\n').Append(' ', level * 4);
        }
    }

    private static void Close(StringBuilder builder, char close, bool pretty, int level)
    {
        if (pretty)
        {
            builder.Append('\n').Append(' ', level * 4);
        }
        builder.Append(close);
    }

    private static void WriteScalar(StringBuilder builder, JsonValue value)
    {
        switch (value.GetValueKind())
        {
            case JsonValueKind.String:
                WriteString(builder, value.GetValue<string>());
                break;
            case JsonValueKind.True:
                builder.Append("true");
                break;
            case JsonValueKind.False:
                builder.Append("false");
                break;
            case JsonValueKind.Number:
                WriteNumber(builder, value);
                break;
            default:
                builder.Append("null");
                break;
        }
    }

    private static void WriteNumber(StringBuilder builder, JsonValue value)
    {
        if (value.TryGetValue(out long l))
        {
            builder.Append(l.ToString(CultureInfo.InvariantCulture));
        }
        else if (value.TryGetValue(out ulong u))
        {
            builder.Append(u.ToString(CultureInfo.InvariantCulture));
        }
        else if (value.TryGetValue(out int i))
        {
            builder.Append(i.ToString(CultureInfo.InvariantCulture));
        }
        else
        {
            double d = value.GetValue<double>();
            builder.Append(FormatDouble(d));
        }
    }

    /// <summary>C's %.17g.</summary>
    internal static string FormatDouble(double d)
    {
        if (d == 0)
        {
            return "0";
        }
        string text = d.ToString("E16", CultureInfo.InvariantCulture);
        int exponent = int.Parse(text.AsSpan(text.IndexOf('E') + 1), CultureInfo.InvariantCulture);
        if (exponent < -4 || exponent >= 17)
        {
            string mantissa = text[..text.IndexOf('E')].TrimEnd('0').TrimEnd('.');
            return $"{mantissa}e{(exponent < 0 ? '-' : '+')}{Math.Abs(exponent):D2}";
        }
        string fixedText = d.ToString("F" + Math.Max(0, 16 - exponent), CultureInfo.InvariantCulture);
        return fixedText.Contains('.', StringComparison.Ordinal) ? fixedText.TrimEnd('0').TrimEnd('.') : fixedText;
    }

    private static void WriteString(StringBuilder builder, string text)
    {
        builder.Append('"');
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            switch (c)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append("\\\\"); break;
                case '\b': builder.Append("\\b"); break;
                case '\f': builder.Append("\\f"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                default:
                    if (c >= 0x20 && c < 0x7F)
                    {
                        builder.Append(c);
                    }
                    else
                    {
                        // UTF-16 code units are exactly what QEMU prints for astral characters too.
                        builder.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    }
                    break;
            }
        }
        builder.Append('"');
    }
}
