using System.Text;
using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Nbd.Protocol;
using BlockDaemon.Nbd.Server;
using BlockDaemon.Qmp.Exports;

namespace BlockDaemon.Qmp.Commands;

/// <summary>block-export.json: adding, removing and listing exports (NBD only).</summary>
public static class BlockExportCommands
{
    internal static void Register(CommandRegistry registry)
    {
        registry.Add("block-export-add", Add);
        registry.Add("block-export-del", Delete);
        registry.Add("query-block-exports", Query);
    }

    /// <summary>block-export-add, and --export. The checks run in qsd's order (blk_exp_add, then nbd_export_create).</summary>
    public static Task<JsonNode?> Add(CommandContext context, JsonObject arguments)
    {
        string id = arguments["id"]!.GetValue<string>();
        string nodeName = arguments["node-name"]!.GetValue<string>();
        bool writable = arguments["writable"]?.GetValue<bool>() ?? false;
        bool writeThrough = arguments["writethrough"]?.GetValue<bool>() ?? false;
        if (!BlockGraph.IsWellFormedName(id))
        {
            throw QmpException.Generic("Invalid block export id");
        }
        if (context.Exports.Find(id) is not null)
        {
            throw QmpException.Generic($"Block export id '{id}' is already in use");
        }
        var node = context.Graph.FindNode(nodeName) ?? throw QmpException.Generic($"Cannot find device='' nor node-name='{nodeName}'");
        if (writable && node.ReadOnly)
        {
            throw QmpException.Generic("Cannot export read-only node as writable");
        }
        var server = context.Exports.Server ?? throw QmpException.Generic("NBD server not running");
        string name = arguments["name"]?.GetValue<string>() ?? nodeName;
        string? description = arguments["description"]?.GetValue<string>();
        if (Encoding.UTF8.GetByteCount(name) > NbdLimits.MaxString)
        {
            throw QmpException.Generic($"export name '{name}' too long");
        }
        if (description is not null && Encoding.UTF8.GetByteCount(description) > NbdLimits.MaxString)
        {
            throw QmpException.Generic($"description '{description}' too long");
        }
        if (server.Exports.Find(name) is not null)
        {
            throw QmpException.Generic($"NBD server already has export named '{name}'");
        }
        var dirtyBitmaps = arguments["bitmaps"] is JsonArray bitmaps
            ? NbdBitmapExports.Resolve(context.Graph, node, bitmaps, writable)
            : [];
        bool allocationDepth = arguments["allocation-depth"]?.GetValue<bool>() ?? false;
        NbdExport nbd;
        try
        {
            nbd = NbdExport.Attach(context.Graph, node, name, description, writable, writeThrough, allocationDepth, dirtyBitmaps);
        }
        catch (BlockException e)
        {
            throw QmpErrors.From(e);
        }
        context.Exports.Add(new BlockExport(id, nbd));
        return Task.FromResult<JsonNode?>(null);
    }

    internal static async Task<JsonNode?> Delete(CommandContext context, JsonObject arguments)
    {
        string id = arguments["id"]!.GetValue<string>();
        bool hard = arguments["mode"]?.GetValue<string>() == "hard";
        var export = context.Exports.Find(id) ?? throw QmpException.Generic($"Export '{id}' is not found");
        if (export.ShuttingDown)
        {
            throw QmpException.Generic($"Export '{id}' is already shutting down");
        }
        if (!hard && await context.Exports.ClientsStayingAsync(export).ConfigureAwait(false) > 0)
        {
            throw QmpException.Generic($"export '{id}' still in use");
        }
        if (export.ShuttingDown)
        {
            // Another monitor removed it while this one let departing clients go.
            throw QmpException.Generic($"Export '{id}' is already shutting down");
        }
        await context.Exports.RemoveAsync(export, waitForClients: false, context.ReplySent()).ConfigureAwait(false);
        return null;
    }

    private static Task<JsonNode?> Query(CommandContext context, JsonObject arguments)
    {
        var list = new JsonArray();
        foreach (var export in context.Exports.Exports)
        {
            list.Add((JsonNode)new JsonObject
            {
                ["id"] = export.Id,
                ["type"] = "nbd",
                ["node-name"] = export.NodeName,
                ["shutting-down"] = export.ShuttingDown,
            });
        }
        return Task.FromResult<JsonNode?>(list);
    }
}
