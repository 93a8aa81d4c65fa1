using System.Text.Json;
using System.Text.Json.Nodes;

namespace BlockDaemon.CommandLine.Arguments;

/// <summary>
/// Reads scalar members the way QEMU's QObject input visitor does, for the few options this
/// library types itself (--monitor, --object's qom-type). JSON input must have the right JSON
/// type; keyval input has strings, and a nested object or array where a scalar belongs is
/// reported as unexpected parameters.
/// </summary>
internal static class QapiMember
{
    /// <summary>The string member <paramref name="name"/>, or null when absent.</summary>
    public static string? GetString(JsonObject members, string name, bool fromKeyval)
    {
        if (!members.TryGetPropertyValue(name, out JsonNode? node))
        {
            return null;
        }

        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.String)
        {
            return value.GetValue<string>();
        }

        return ThrowWrongType(name, "string", fromKeyval);
    }

    /// <summary>The boolean member <paramref name="name"/>, or null when absent.</summary>
    public static bool? GetBool(JsonObject members, string name, bool fromKeyval)
    {
        if (!members.TryGetPropertyValue(name, out JsonNode? node))
        {
            return null;
        }

        if (fromKeyval && node is JsonValue text && text.GetValueKind() == JsonValueKind.String)
        {
            return QemuOpts.QemuOptValue.ParseBool(name, text.GetValue<string>());
        }

        if (!fromKeyval && node is JsonValue value && value.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
        {
            return value.GetValue<bool>();
        }

        ThrowWrongType(name, "boolean", fromKeyval);
        return null;
    }

    /// <summary>Fails with "Parameter 'x' is missing".</summary>
    public static string Require(string? value, string name) =>
        value ?? throw new OptionSyntaxException($"Parameter '{name}' is missing");

    /// <summary>Fails on the first member not in <paramref name="known"/>.</summary>
    public static void RejectUnexpected(JsonObject members, IReadOnlyCollection<string> known)
    {
        foreach ((string name, _) in members)
        {
            if (!known.Contains(name))
            {
                OptionSyntaxException.Throw($"Parameter '{name}' is unexpected");
            }
        }
    }

    private static string ThrowWrongType(string name, string expected, bool fromKeyval)
    {
        if (fromKeyval)
        {
            OptionSyntaxException.Throw($"Parameters '{name}.*' are unexpected");
        }

        OptionSyntaxException.Throw($"Invalid parameter type for '{name}', expected: {expected}");
        return null;
    }
}
