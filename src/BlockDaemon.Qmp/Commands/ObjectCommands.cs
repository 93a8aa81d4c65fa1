using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Objects;

namespace BlockDaemon.Qmp.Commands;

/// <summary>qom.json: object-add and object-del.</summary>
public static class ObjectCommands
{
    internal static void Register(CommandRegistry registry)
    {
        registry.Add("object-add", Add);
        registry.Add("object-del", Delete);
    }

    /// <summary>object-add, and --object once its options passed the schema.</summary>
    public static Task<JsonNode?> Add(CommandContext context, JsonObject arguments)
    {
        ObjectFactory.Add(arguments, context.Exports);
        return Task.FromResult<JsonNode?>(null);
    }

    private static Task<JsonNode?> Delete(CommandContext context, JsonObject arguments)
    {
        ObjectFactory.Delete(arguments["id"]!.GetValue<string>(), context.Exports);
        return Task.FromResult<JsonNode?>(null);
    }
}
