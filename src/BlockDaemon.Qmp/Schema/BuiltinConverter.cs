using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BlockDaemon.Qmp.Schema;

/// <summary>
/// Builtin scalar types as QEMU's input visitor checks them. Integers come back as long (or ulong
/// above long.MaxValue); uint64 also takes negative numbers, as QEMU does for compatibility.
/// The range checks of narrow types name only the member, like QEMU's visit_type_intN.
/// </summary>
internal static class BuiltinConverter
{
    public static JsonNode? Convert(string type, JsonNode? value, string path, string name, bool keyval)
    {
        if (type == "any")
        {
            return value?.DeepClone();
        }
        if (keyval && value is JsonValue kv && kv.GetValueKind() == JsonValueKind.String && type != "str")
        {
            return FromKeyval(type, kv.GetValue<string>(), path, name);
        }
        var kind = value switch
        {
            null => JsonValueKind.Null,
            JsonValue v => v.GetValueKind(),
            JsonObject => JsonValueKind.Object,
            _ => JsonValueKind.Array,
        };
        switch (type)
        {
            case "str":
                return kind == JsonValueKind.String ? JsonValue.Create(value!.GetValue<string>()) : throw ArgumentValidator.TypeError(path, "string");
            case "bool":
                return kind is JsonValueKind.True or JsonValueKind.False ? JsonValue.Create(kind == JsonValueKind.True) : throw ArgumentValidator.TypeError(path, "boolean");
            case "null":
                return kind == JsonValueKind.Null ? null : throw ArgumentValidator.TypeError(path, "null");
            case "number":
                return kind == JsonValueKind.Number ? value!.DeepClone() : throw ArgumentValidator.TypeError(path, "number");
        }
        // Integer types.
        bool unsigned = type is "uint8" or "uint16" or "uint32" or "uint64" or "size";
        if (kind != JsonValueKind.Number)
        {
            throw unsigned ? Expects(path, "uint64") : ArgumentValidator.TypeError(path, "integer");
        }
        var jsonValue = (JsonValue)value!;
        BigInteger number;
        if (jsonValue.TryGetValue(out long l))
        {
            number = l;
        }
        else if (jsonValue.TryGetValue(out ulong u))
        {
            number = u;
        }
        else
        {
            throw unsigned ? Expects(path, "uint64") : ArgumentValidator.TypeError(path, "integer");
        }
        return CheckRange(type, number, path, name, keyval: false);
    }

    private static JsonNode? FromKeyval(string type, string text, string path, string name)
    {
        switch (type)
        {
            case "bool":
                return text switch
                {
                    "on" or "yes" or "true" or "y" => JsonValue.Create(true),
                    "off" or "no" or "false" or "n" => JsonValue.Create(false),
                    _ => throw Expects(path, "'on' or 'off'"),
                };
            case "number":
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)
                    ? JsonValue.Create(d) : throw Expects(path, "number");
            case "null":
                return text.Length == 0 ? null : throw Expects(path, "null");
            case "size":
                return ParseSize(text) is { } size ? JsonValue.Create(size) : throw Expects(path, "size");
        }
        bool unsigned = type.StartsWith('u');
        if (!TryParseInteger(text, out BigInteger number))
        {
            throw Expects(path, unsigned ? "uint64" : "integer");
        }
        return CheckRange(type, number, path, name, keyval: true);
    }

    private static JsonValue CheckRange(string type, BigInteger number, string path, string name, bool keyval)
    {
        (BigInteger min, BigInteger max, string label, bool fullName) = type switch
        {
            "int8" => (sbyte.MinValue, sbyte.MaxValue, "int8_t", false),
            "int16" => (short.MinValue, short.MaxValue, "int16_t", false),
            "int32" => (int.MinValue, int.MaxValue, "int32_t", false),
            "uint8" => (byte.MinValue, byte.MaxValue, "uint8_t", false),
            "uint16" => (ushort.MinValue, ushort.MaxValue, "uint16_t", false),
            "uint32" => (uint.MinValue, uint.MaxValue, "uint32_t", false),
            "uint64" or "size" => ((BigInteger)long.MinValue, (BigInteger)ulong.MaxValue, "uint64", true),
            _ => ((BigInteger)long.MinValue, (BigInteger)long.MaxValue, "integer", true),
        };
        if (number < min || number > max)
        {
            // QEMU: a JSON number that is no int64 is a type error; a keyval string is a value error.
            throw label == "integer" && !keyval ? ArgumentValidator.TypeError(path, "integer") : Expects(fullName ? path : name, label);
        }
        return number > long.MaxValue ? JsonValue.Create((ulong)number) : JsonValue.Create((long)number);
    }

    // qemu_strtoi64/strtou64 with base 0: decimal, 0x hex, leading 0 octal; no suffixes.
    private static bool TryParseInteger(string text, out BigInteger value)
    {
        value = 0;
        string t = text.Trim();
        bool negative = t.StartsWith('-');
        if (negative || t.StartsWith('+'))
        {
            t = t[1..];
        }
        bool ok;
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && t.Length > 2)
        {
            ok = BigInteger.TryParse("0" + t[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        }
        else if (t.Length > 1 && t[0] == '0')
        {
            ok = t.All(c => c is >= '0' and <= '7');
            foreach (char c in ok ? t : "")
            {
                value = (value * 8) + (c - '0');
            }
        }
        else
        {
            ok = t.Length > 0 && t.All(char.IsAsciiDigit) && BigInteger.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        }
        if (negative)
        {
            value = -value;
        }
        return ok;
    }

    // qemu_strtosz: a number with an optional B/K/M/G/T/P/E suffix (powers of 1024).
    private static ulong? ParseSize(string text)
    {
        int end = 0;
        while (end < text.Length && (char.IsAsciiDigit(text[end]) || text[end] == '.'))
        {
            end++;
        }
        if (end == 0 || !double.TryParse(text[..end], NumberStyles.Float, CultureInfo.InvariantCulture, out double number))
        {
            return null;
        }
        string suffix = text[end..];
        int shift = suffix.ToUpperInvariant() switch
        {
            "" or "B" => 0,
            "K" => 10,
            "M" => 20,
            "G" => 30,
            "T" => 40,
            "P" => 50,
            "E" => 60,
            _ => -1,
        };
        if (shift < 0 || (shift == 0 && text[..end].Contains('.', StringComparison.Ordinal)))
        {
            return null;
        }
        double bytes = number * Math.Pow(2, shift);
        return bytes >= Math.Pow(2, 64) ? null : (ulong)bytes;
    }

    private static QmpException Expects(string path, string what) =>
        new(QmpErrorClass.GenericError, $"Parameter '{path}' expects {what}");
}
