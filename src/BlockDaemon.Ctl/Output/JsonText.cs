using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BlockDaemon.Ctl.Output;

/// <summary>
/// Compact JSON for people and scripts: only what JSON requires is escaped, so "7.2+dfsg" and
/// non-ASCII names print as themselves instead of the default writer's \u002B.
/// </summary>
public static class JsonText
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Compact(JsonNode? node)
    {
        if (node is null)
        {
            return "null";
        }
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, Options))
        {
            node.WriteTo(writer);
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
