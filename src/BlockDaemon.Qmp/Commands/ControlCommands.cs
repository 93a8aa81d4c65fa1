using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Schema;

namespace BlockDaemon.Qmp.Commands;

/// <summary>control.json and introspect.json: negotiation, version, command list, schema, quit.</summary>
internal static class ControlCommands
{
    public static void Register(CommandRegistry registry)
    {
        registry.Add("qmp_capabilities", QmpCapabilities);
        registry.Add("query-version", QueryVersion);
        registry.Add("query-commands", QueryCommands);
        registry.Add("query-qmp-schema", QueryQmpSchema);
        registry.Add("quit", Quit);
    }

    // Negotiation itself is the session's business; reaching this handler means it is over.
    private static Task<JsonNode?> QmpCapabilities(CommandContext context, JsonObject arguments) =>
        throw new QmpException(QmpErrorClass.CommandNotFound, "Capabilities negotiation is already complete, command ignored");

    private static Task<JsonNode?> QueryVersion(CommandContext context, JsonObject arguments)
    {
        var (major, minor, micro, package) = context.Daemon.Version;
        return Task.FromResult<JsonNode?>(new JsonObject
        {
            ["qemu"] = new JsonObject { ["major"] = major, ["minor"] = minor, ["micro"] = micro },
            ["package"] = package,
        });
    }

    private static Task<JsonNode?> QueryCommands(CommandContext context, JsonObject arguments) =>
        Task.FromResult<JsonNode?>(new JsonArray(context.Schema.Commands
            .Select(c => (JsonNode)new JsonObject { ["name"] = c.Name }).ToArray()));

    private static Task<JsonNode?> QueryQmpSchema(CommandContext context, JsonObject arguments) =>
        Task.FromResult<JsonNode?>(Introspection.Build(context.Schema));

    private static Task<JsonNode?> Quit(CommandContext context, JsonObject arguments)
    {
        context.AfterReply.Add(context.Daemon.RequestShutdown);
        return Task.FromResult<JsonNode?>(null);
    }
}
