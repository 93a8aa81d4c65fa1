using System.Text.Json.Nodes;

namespace BlockDaemon.Qmp.Commands;

/// <summary>A command implementation: validated arguments in, the `return` value out (null = {}).</summary>
public delegate Task<JsonNode?> CommandHandler(CommandContext context, JsonObject arguments);
