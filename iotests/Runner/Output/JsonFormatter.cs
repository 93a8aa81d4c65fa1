using System.Globalization;
using System.Text;
using System.Text.Json;

namespace BlockDaemon.IoTests.Output;

/// <summary>
/// Prints JSON in the one canonical form the goldens use: object keys sorted (ordinal) at every
/// depth, Python-like spacing (<c>{"a": 1, "b": [1, 2]}</c>), numbers exactly as received, and
/// strings escaped with only ASCII in the output. Sorting makes goldens independent of the member
/// order a daemon happens to write; the exact order on the wire is covered by <c>@recv-raw</c>.
/// </summary>
public static class JsonFormatter
{
    /// <summary>
    /// Decides, for the member or element at a path such as <c>/QMP/version</c>, whether to print
    /// a replacement text instead of the value. Returns null to keep the value.
    /// </summary>
    public delegate string? Substitution(string path, JsonElement value);

    public static string Format(JsonElement element, Substitution? substitute = null)
    {
        var builder = new StringBuilder();
        Write(builder, element, string.Empty, substitute);
        return builder.ToString();
    }

    private static void Write(StringBuilder builder, JsonElement element, string path, Substitution? substitute)
    {
        if (substitute?.Invoke(path, element) is { } replacement)
        {
            builder.Append(replacement);
            return;
        }

        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                // A stable sort keeps duplicate keys (legal in a transcript's @send text) in their order.
                var members = element.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
                builder.Append('{');
                for (var i = 0; i < members.Count; i++)
                {
                    if (i > 0)
                    {
                        builder.Append(", ");
                    }

                    AppendString(builder, members[i].Name);
                    builder.Append(": ");
                    Write(builder, members[i].Value, path + "/" + members[i].Name, substitute);
                }

                builder.Append('}');
                break;
            case JsonValueKind.Array:
                builder.Append('[');
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (index > 0)
                    {
                        builder.Append(", ");
                    }

                    Write(builder, item, path + "/" + index.ToString(CultureInfo.InvariantCulture), substitute);
                    index++;
                }

                builder.Append(']');
                break;
            case JsonValueKind.String:
                AppendString(builder, element.GetString()!);
                break;
            default:
                // Numbers, true, false and null: the token as the peer wrote it.
                builder.Append(element.GetRawText());
                break;
        }
    }

    /// <summary>Appends <paramref name="value"/> as a JSON string literal, escaping as Python's json.dumps does.</summary>
    public static void AppendString(StringBuilder builder, string value)
    {
        builder.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"':
                    builder.Append("\\\"");
                    break;
                case '\\':
                    builder.Append("\\\\");
                    break;
                case '\n':
                    builder.Append("\\n");
                    break;
                case '\r':
                    builder.Append("\\r");
                    break;
                case '\t':
                    builder.Append("\\t");
                    break;
                case '\b':
                    builder.Append("\\b");
                    break;
                case '\f':
                    builder.Append("\\f");
                    break;
                default:
                    if (c < 0x20 || c > 0x7e)
                    {
                        builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }

                    break;
            }
        }

        builder.Append('"');
    }

    /// <summary>Returns <paramref name="value"/> as a JSON string literal.</summary>
    public static string QuoteString(string value)
    {
        var builder = new StringBuilder(value.Length + 2);
        AppendString(builder, value);
        return builder.ToString();
    }
}
