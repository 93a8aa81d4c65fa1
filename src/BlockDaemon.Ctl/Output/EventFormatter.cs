using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Qmp;

namespace BlockDaemon.Ctl.Output;

/// <summary>One line per event: "TIME NAME key=value ..." (nested data as compact JSON), or the raw message.</summary>
public static class EventFormatter
{
    public static string Format(QmpEvent e, bool json)
    {
        if (json)
        {
            return JsonText.Compact(e.Message);
        }
        var sb = new StringBuilder();
        sb.Append(e.Timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
        sb.Append(' ').Append(e.Name);
        foreach (var (key, value) in e.Data)
        {
            sb.Append(' ').Append(key).Append('=');
            sb.Append(value is JsonValue ? ReadablePrinter.Scalar(value) : JsonText.Compact(value));
        }
        return sb.ToString();
    }
}
