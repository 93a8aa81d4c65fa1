using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Transactions;

namespace BlockDaemon.Qmp.Commands;

/// <summary>transaction.json and the external snapshot commands, which QEMU runs as transactions of one action.</summary>
public static class TransactionCommands
{
    internal static void Register(CommandRegistry registry)
    {
        registry.Add("transaction", Transaction);
        registry.Add("blockdev-snapshot-sync", (context, arguments) => One(context, "blockdev-snapshot-sync", arguments));
        registry.Add("blockdev-snapshot", (context, arguments) => One(context, "blockdev-snapshot", arguments));
    }

    private static async Task<JsonNode?> Transaction(CommandContext context, JsonObject arguments)
    {
        var mode = arguments["properties"]?["completion-mode"]?.GetValue<string>() == "grouped"
            ? CompletionMode.Grouped
            : CompletionMode.Individual;
        var actions = arguments["actions"]!.AsArray()
            .Select(a => (a!["type"]!.GetValue<string>(), a["data"]!.AsObject()))
            .ToList();
        await TransactionRunner.RunAsync(context, actions, mode).ConfigureAwait(false);
        return null;
    }

    private static async Task<JsonNode?> One(CommandContext context, string type, JsonObject arguments)
    {
        await TransactionRunner.RunOneAsync(context, type, arguments).ConfigureAwait(false);
        return null;
    }
}
