using System.Globalization;
using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Cli;
using BlockDaemon.Ctl.Schema;
using BlockDaemon.QemuJson;

namespace BlockDaemon.Ctl.Arguments;

/// <summary>
/// Gives each key=value text the JSON type the daemon's schema expects at that place: integers
/// (with k/M/G/T/P/E binary suffixes, as QEMU sizes), numbers, booleans (true/false, on/off,
/// yes/no), null, strings and enums; a union's variant is found from its tag, an alternate's
/// branch from what the text looks like. Members the schema does not know stay strings, so the
/// daemon, not blockctl, reports them with its own error text.
/// </summary>
public sealed class SchemaTyping(QmpSchema? schema)
{
    /// <summary>The arguments object of <paramref name="command"/>.</summary>
    /// <exception cref="UsageException">A value cannot have the type the schema requires there.</exception>
    public JsonObject Arguments(string command, ObjectArgument arguments)
    {
        string? type = schema?.ArgumentType(command);
        return (JsonObject)Convert(arguments, type, "")!;
    }

    public JsonNode? Convert(ArgumentNode node, string? type, string path)
    {
        if (node is JsonArgument json)
        {
            return json.Value?.DeepClone();
        }
        string? meta = type is null || schema is null ? null : schema.MetaType(type);
        return meta switch
        {
            "builtin" => Builtin(node, schema!.JsonType(type!), path),
            "enum" => Text(node, path, "a string"),
            "array" => Array(node, schema!.ElementType(type!), path),
            "object" => Object(node, type!, path),
            "alternate" => Alternate(node, type!, path),
            _ => Untyped(node),
        };
    }

    private JsonNode? Builtin(ArgumentNode node, string? jsonType, string path)
    {
        if (jsonType == "value")
        {
            // 'any': a text that reads as JSON is taken as JSON, anything else as a string.
            if (node is TextArgument any)
            {
                return TryJson(any.Text, out var parsed) ? parsed : JsonValue.Create(any.Text);
            }
            return Untyped(node);
        }
        string text = Text(node, path, jsonType switch
        {
            "int" => "an integer",
            "number" => "a number",
            "boolean" => "a boolean",
            "null" => "null",
            _ => "a string",
        }).GetValue<string>();
        switch (jsonType)
        {
            case "int":
                return ParseInteger(text) ?? throw Expected(path, "an integer", text);
            case "number":
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) && double.IsFinite(number))
                {
                    return JsonValue.Create(number);
                }
                return ParseInteger(text) ?? throw Expected(path, "a number", text);
            case "boolean":
                return ParseBoolean(text) is bool b ? JsonValue.Create(b) : throw Expected(path, "a boolean (true/false, on/off, yes/no)", text);
            case "null":
                return text == "null" ? null : throw Expected(path, "null", text);
            default:
                return JsonValue.Create(text);
        }
    }

    private JsonNode? Array(ArgumentNode node, string? elementType, string path)
    {
        switch (node)
        {
            case ListArgument list:
                var array = new JsonArray();
                for (int i = 0; i < list.Elements.Count; i++)
                {
                    array.Add(Convert(list.Elements[i], elementType, Join(path, i.ToString(CultureInfo.InvariantCulture))));
                }
                return array;
            case TextArgument text when text.Text.TrimStart().StartsWith('['):
                return ParseJson(text.Text, path);
            default:
                throw new UsageException($"Parameter '{Name(path)}' expects a list: give {Name(path)}.0=..., {Name(path)}.1=... or {Name(path)}:=[...]");
        }
    }

    private JsonNode? Object(ArgumentNode node, string type, string path)
    {
        switch (node)
        {
            case ObjectArgument obj:
                var result = new JsonObject();
                // The tag picks the variant, so it is typed first, wherever it was written.
                string? tag = schema!.Tag(type);
                string? tagValue = null;
                foreach (var (key, value) in obj.Members)
                {
                    if (key == tag && value is TextArgument t)
                    {
                        tagValue = t.Text;
                    }
                    else if (key == tag && value is JsonArgument { Value: JsonValue j } && j.TryGetValue(out string? s))
                    {
                        tagValue = s;
                    }
                }
                foreach (var (key, value) in obj.Members)
                {
                    var member = schema.FindMember(type, key, tagValue);
                    result[key] = Convert(value, member?.Type, Join(path, key));
                }
                return result;
            case TextArgument text when text.Text.TrimStart().StartsWith('{'):
                return ParseJson(text.Text, path);
            case ListArgument:
                throw new UsageException($"Parameter '{Name(path)}' expects an object, not a list");
            default:
                throw new UsageException($"Parameter '{Name(path)}' expects an object: give {Name(path)}.MEMBER=... or {Name(path)}:={{...}}");
        }
    }

    private JsonNode? Alternate(ArgumentNode node, string type, string path)
    {
        var branches = schema!.AlternateTypes(type);
        string? Branch(string meta) => branches.FirstOrDefault(b => schema.MetaType(b) == meta);
        string? Builtin(string jsonType) => branches.FirstOrDefault(b => schema.MetaType(b) == "builtin" && schema.JsonType(b) == jsonType);

        switch (node)
        {
            case ObjectArgument when Branch("object") is string objectType:
                return Object(node, objectType, path);
            case ListArgument when Branch("array") is string arrayType:
                return Array(node, schema.ElementType(arrayType), path);
            case TextArgument text:
                string value = text.Text;
                string trimmed = value.TrimStart();
                if ((trimmed.StartsWith('{') && Branch("object") is not null) || (trimmed.StartsWith('[') && Branch("array") is not null))
                {
                    return ParseJson(value, path);
                }
                if (value == "null" && Builtin("null") is not null)
                {
                    return null;
                }
                if (Builtin("boolean") is not null && value is "true" or "false")
                {
                    return JsonValue.Create(value == "true");
                }
                if (Builtin("int") is not null && ParseInteger(value) is JsonValue integer)
                {
                    return integer;
                }
                if (Builtin("number") is not null && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number))
                {
                    return JsonValue.Create(number);
                }
                if (branches.Any(b => schema.MetaType(b) == "enum" && schema.EnumValues(b).Contains(value)) || Builtin("string") is not null)
                {
                    return JsonValue.Create(value);
                }
                if (Builtin("boolean") is not null && ParseBoolean(value) is bool b)
                {
                    return JsonValue.Create(b);
                }
                // No branch fits: send it as a string and let the daemon name what it expected.
                return JsonValue.Create(value);
            default:
                return Untyped(node);
        }
    }

    private static JsonNode? Untyped(ArgumentNode node) => node switch
    {
        TextArgument text => JsonValue.Create(text.Text),
        JsonArgument json => json.Value?.DeepClone(),
        ListArgument list => new JsonArray(list.Elements.Select(Untyped).ToArray()),
        ObjectArgument obj => new JsonObject(obj.Members.Select(m => new KeyValuePair<string, JsonNode?>(m.Key, Untyped(m.Value)))),
        _ => null,
    };

    private static JsonValue Text(ArgumentNode node, string path, string expected) => node switch
    {
        TextArgument text => JsonValue.Create(text.Text),
        _ => throw new UsageException($"Parameter '{Name(path)}' expects {expected}, not an object or list"),
    };

    /// <summary>A decimal or 0x integer, optionally with a binary size suffix (k, M, G, T, P, E).</summary>
    internal static JsonValue? ParseInteger(string text)
    {
        if (text.Length == 0)
        {
            return null;
        }
        int shift = 0;
        string digits = text;
        int suffix = "kmgtpe".IndexOf(char.ToLowerInvariant(text[^1]));
        if (suffix >= 0 && text.Length > 1 && !text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            shift = 10 * (suffix + 1);
            digits = text[..^1];
        }
        bool negative = digits.StartsWith('-');
        string magnitude = negative ? digits[1..] : digits;
        ulong value;
        if (magnitude.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            if (!ulong.TryParse(magnitude.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value))
            {
                return null;
            }
        }
        else if (magnitude.Length == 0 || !magnitude.All(char.IsAsciiDigit) || !ulong.TryParse(magnitude, NumberStyles.None, CultureInfo.InvariantCulture, out value))
        {
            return null;
        }
        if (shift > 0)
        {
            if (negative || value > (ulong.MaxValue >> shift))
            {
                return null;
            }
            value <<= shift;
        }
        if (!negative)
        {
            return value <= long.MaxValue ? JsonValue.Create((long)value) : JsonValue.Create(value);
        }
        return value <= (ulong)long.MaxValue + 1 ? JsonValue.Create(unchecked(-(long)value)) : null;
    }

    internal static bool? ParseBoolean(string text) => text switch
    {
        "true" or "on" or "yes" => true,
        "false" or "off" or "no" => false,
        _ => null,
    };

    private static JsonNode? ParseJson(string text, string path)
    {
        try
        {
            return QemuJsonReader.Read(text);
        }
        catch (QemuJsonException e)
        {
            throw new UsageException($"The value of '{Name(path)}' is not valid JSON: {e.Message}", e);
        }
    }

    private static bool TryJson(string text, out JsonNode? value)
    {
        try
        {
            value = QemuJsonReader.Read(text);
            return true;
        }
        catch (QemuJsonException)
        {
            value = null;
            return false;
        }
    }

    private static UsageException Expected(string path, string what, string text) =>
        new($"Parameter '{Name(path)}' expects {what}, not '{text}'");

    private static string Join(string path, string key) => path.Length == 0 ? key : path + "." + key;

    private static string Name(string path) => path.Length == 0 ? "arguments" : path;
}
