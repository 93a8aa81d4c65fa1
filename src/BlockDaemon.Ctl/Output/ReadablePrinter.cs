using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BlockDaemon.Ctl.Output;

/// <summary>
/// Prints a reply for people: objects as "key: value" lines, lists as "- " items, nesting by
/// indentation (a YAML-like layout). Strings are bare unless they could be mistaken for another
/// type or hold blanks at their ends or control characters; then they are quoted as JSON.
/// </summary>
public static class ReadablePrinter
{
    public static string Format(JsonNode? value)
    {
        var sb = new StringBuilder();
        switch (value)
        {
            case JsonObject obj when obj.Count > 0:
                WriteObject(sb, obj, 0);
                break;
            case JsonArray array when array.Count > 0:
                WriteArray(sb, array, 0);
                break;
            case JsonObject:
                break;
            case JsonArray:
                sb.Append("[]\n");
                break;
            default:
                sb.Append(Scalar(value)).Append('\n');
                break;
        }
        return sb.ToString();
    }

    private static void WriteObject(StringBuilder sb, JsonObject obj, int indent)
    {
        bool first = true;
        foreach (var (key, value) in obj)
        {
            // The first member of a list item continues the "- " line.
            if (!first || indent == 0 || sb.Length == 0 || sb[^1] == '\n')
            {
                sb.Append(' ', indent);
            }
            first = false;
            sb.Append(key).Append(':');
            WriteValue(sb, value, indent + 2);
        }
    }

    private static void WriteArray(StringBuilder sb, JsonArray array, int indent)
    {
        foreach (var item in array)
        {
            sb.Append(' ', indent).Append("- ");
            switch (item)
            {
                case JsonObject obj when obj.Count > 0:
                    WriteObject(sb, obj, indent + 2);
                    break;
                case JsonArray inner when inner.Count > 0:
                    sb.Append('\n');
                    WriteArray(sb, inner, indent + 2);
                    break;
                default:
                    sb.Append(Scalar(item)).Append('\n');
                    break;
            }
        }
    }

    private static void WriteValue(StringBuilder sb, JsonNode? value, int indent)
    {
        switch (value)
        {
            case JsonObject obj when obj.Count > 0:
                sb.Append('\n');
                WriteObject(sb, obj, indent);
                break;
            case JsonArray array when array.Count > 0:
                sb.Append('\n');
                WriteArray(sb, array, indent);
                break;
            default:
                sb.Append(' ').Append(Scalar(value)).Append('\n');
                break;
        }
    }

    public static string Scalar(JsonNode? value)
    {
        switch (value)
        {
            case null:
                return "null";
            case JsonObject:
                return "{}";
            case JsonArray:
                return "[]";
        }
        var element = (JsonValue)value;
        if (element.GetValueKind() != JsonValueKind.String)
        {
            return JsonText.Compact(element);
        }
        string text = element.GetValue<string>();
        return NeedsQuotes(text) ? JsonSerializerQuote(text) : text;
    }

    private static bool NeedsQuotes(string text) =>
        text.Length == 0
        || text != text.Trim()
        || text is "null" or "true" or "false" or "{}" or "[]" or "-"
        || text.Any(char.IsControl)
        || double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
        || text.StartsWith('"') || text.StartsWith("- ", StringComparison.Ordinal)
        || text.EndsWith(':');

    private static string JsonSerializerQuote(string text) => JsonText.Compact(JsonValue.Create(text));
}
