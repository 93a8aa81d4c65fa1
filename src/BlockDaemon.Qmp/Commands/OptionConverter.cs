using System.Text.Json;
using System.Text.Json.Nodes;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Qmp.Commands;

/// <summary>Turns validated JSON (schema-typed) into the block layer's JSON-free options, and back.</summary>
public static class OptionConverter
{
    public static OptionDict ToOptions(JsonObject json)
    {
        var dict = new OptionDict();
        foreach (var (key, value) in json)
        {
            dict.Set(key, ToValue(value));
        }
        return dict;
    }

    public static JsonObject ToJson(OptionDict options)
    {
        var json = new JsonObject();
        foreach (var (key, value) in options.Items)
        {
            json[key] = ToNode(value);
        }
        return json;
    }

    private static object? ToValue(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => ToOptions(o),
        JsonArray a => new OptionList(a.Select(ToValue)),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => v.TryGetValue(out long l) ? (object)l : v.TryGetValue(out ulong u) ? (object)u : (object)v.GetValue<double>(),
            _ => null,
        },
        _ => null,
    };

    private static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        OptionDict d => ToJson(d),
        OptionList l => new JsonArray(l.Select(ToNode).ToArray()),
        string s => JsonValue.Create(s),
        bool b => JsonValue.Create(b),
        long l => JsonValue.Create(l),
        ulong u => JsonValue.Create(u),
        double d => JsonValue.Create(d),
        _ => JsonValue.Create(value.ToString()),
    };
}
