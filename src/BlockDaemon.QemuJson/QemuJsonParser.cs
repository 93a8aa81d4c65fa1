using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace BlockDaemon.QemuJson;

/// <summary>
/// Recursive-descent parser for one top-level value (qobject/json-parser.c). Only the first error
/// is kept: when an inner rule fails, the outer rules' own complaints are ignored. Messages are
/// prefixed "JSON parse error, ". Object keys must be unique. Integers become long, else ulong,
/// else double, like QNum.
/// </summary>
public sealed class QemuJsonParser
{
    private readonly IReadOnlyList<JsonToken> _tokens;
    private int _next;
    private string? _error;

    private QemuJsonParser(IReadOnlyList<JsonToken> tokens)
    {
        _tokens = tokens;
    }

    /// <summary>Parses the tokens of one top-level value; JSON null comes back as a null node.</summary>
    public static JsonNode? Parse(IReadOnlyList<JsonToken> tokens, out string? error)
    {
        var parser = new QemuJsonParser(tokens);
        parser.TryParseValue(out JsonNode? value);
        error = parser._error;
        return error is null ? value : null;
    }

    private JsonToken? Peek() => _next < _tokens.Count ? _tokens[_next] : null;

    private JsonToken? Pop() => _next < _tokens.Count ? _tokens[_next++] : null;

    /// <summary>Records <paramref name="message"/> unless an error is already recorded.</summary>
    private bool Fail(string message)
    {
        _error ??= "JSON parse error, " + message;
        return false;
    }

    private bool TryParseValue(out JsonNode? value)
    {
        value = null;
        JsonToken? token = Peek();
        if (token is null)
        {
            return Fail("premature EOI");
        }

        switch (token.Type)
        {
            case JsonTokenType.LeftCurly:
                return TryParseObject(out value);
            case JsonTokenType.LeftSquare:
                return TryParseArray(out value);
            case JsonTokenType.String:
                _next++;
                string? text = QemuJsonString.Decode(token.Text, out string? stringError);
                value = text is null ? null : JsonValue.Create(text);
                return text is not null || Fail(stringError!);
            case JsonTokenType.Integer:
                _next++;
                value = ParseInteger(Encoding.ASCII.GetString(token.Text));
                return true;
            case JsonTokenType.Float:
                _next++;
                value = JsonValue.Create(double.Parse(Encoding.ASCII.GetString(token.Text), CultureInfo.InvariantCulture));
                return true;
            case JsonTokenType.Keyword:
                _next++;
                string keyword = Encoding.ASCII.GetString(token.Text);
                switch (keyword)
                {
                    case "true":
                        value = JsonValue.Create(true);
                        return true;
                    case "false":
                        value = JsonValue.Create(false);
                        return true;
                    case "null":
                        return true;
                    default:
                        return Fail($"invalid keyword '{keyword}'");
                }

            default:
                return Fail("expecting value");
        }
    }

    private static JsonValue ParseInteger(string text)
    {
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long signed))
        {
            return JsonValue.Create(signed);
        }

        if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong unsigned))
        {
            return JsonValue.Create(unsigned);
        }

        return JsonValue.Create(double.Parse(text, CultureInfo.InvariantCulture));
    }

    private bool TryParseObject(out JsonNode? value)
    {
        _next++;
        value = null;
        var result = new JsonObject();
        JsonToken? peek = Peek();
        if (peek is null)
        {
            return Fail("premature EOI");
        }

        if (peek.Type == JsonTokenType.RightCurly)
        {
            _next++;
            value = result;
            return true;
        }

        while (true)
        {
            if (!TryParsePair(result))
            {
                return false;
            }

            JsonToken? token = Pop();
            if (token is null)
            {
                return Fail("premature EOI");
            }

            if (token.Type == JsonTokenType.RightCurly)
            {
                value = result;
                return true;
            }

            if (token.Type != JsonTokenType.Comma)
            {
                return Fail("expected separator in dict");
            }
        }
    }

    private bool TryParsePair(JsonObject target)
    {
        if (Peek() is null)
        {
            return Fail("premature EOI");
        }

        if (!TryParseValue(out JsonNode? key) || key is not JsonValue keyValue ||
            !keyValue.TryGetValue(out string? name))
        {
            return Fail("key is not a string in object");
        }

        JsonToken? colon = Pop();
        if (colon is null)
        {
            return Fail("premature EOI");
        }

        if (colon.Type != JsonTokenType.Colon)
        {
            return Fail("missing : in object pair");
        }

        if (!TryParseValue(out JsonNode? member))
        {
            return false;
        }

        if (target.ContainsKey(name))
        {
            return Fail("duplicate key");
        }

        target[name] = member;
        return true;
    }

    private bool TryParseArray(out JsonNode? value)
    {
        _next++;
        value = null;
        var result = new JsonArray();
        JsonToken? peek = Peek();
        if (peek is null)
        {
            return Fail("premature EOI");
        }

        if (peek.Type == JsonTokenType.RightSquare)
        {
            _next++;
            value = result;
            return true;
        }

        while (true)
        {
            if (!TryParseValue(out JsonNode? element))
            {
                return Fail("expecting value");
            }

            result.Add(element);
            JsonToken? token = Pop();
            if (token is null)
            {
                return Fail("premature EOI");
            }

            if (token.Type == JsonTokenType.RightSquare)
            {
                value = result;
                return true;
            }

            if (token.Type != JsonTokenType.Comma)
            {
                return Fail("expected separator in list");
            }
        }
    }
}
