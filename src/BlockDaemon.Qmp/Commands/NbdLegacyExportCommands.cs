using System.Text.Json.Nodes;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// block-export.json: the deprecated nbd-server-add / nbd-server-remove, which qsd 7.2 still
/// offers. They are block-export-add / block-export-del with the export name as the export id,
/// as qemu's blockdev-nbd.c maps them.
/// </summary>
public static class NbdLegacyExportCommands
{
    internal static void Register(CommandRegistry registry)
    {
        registry.Add("nbd-server-add", Add);
        registry.Add("nbd-server-remove", Remove);
    }

    private static Task<JsonNode?> Add(CommandContext context, JsonObject arguments)
    {
        string device = arguments["device"]!.GetValue<string>();
        var node = context.Graph.FindNode(device) ?? throw QmpException.Generic($"Cannot find device='{device}' nor node-name='{device}'");
        string name = arguments["name"]?.GetValue<string>() ?? device;
        var exportArguments = new JsonObject
        {
            ["type"] = "nbd",
            ["id"] = name,
            ["node-name"] = node.NodeName,
            ["name"] = name,
        };
        if (arguments["description"]?.GetValue<string>() is { } description)
        {
            exportArguments["description"] = description;
        }
        // Unlike block-export-add, nbd-server-add quietly exports a read-only node read-only.
        if (arguments["writable"]?.GetValue<bool>() is { } writable && !node.ReadOnly)
        {
            exportArguments["writable"] = writable;
        }
        if (arguments["bitmap"]?.GetValue<string>() is { } bitmap)
        {
            exportArguments["bitmaps"] = new JsonArray(bitmap);
        }
        return BlockExportCommands.Add(context, exportArguments);
    }

    // Every export is an NBD export, so qemu's "is not an NBD export" check cannot trigger.
    private static Task<JsonNode?> Remove(CommandContext context, JsonObject arguments)
    {
        var exportArguments = new JsonObject { ["id"] = arguments["name"]!.GetValue<string>() };
        if (arguments["mode"]?.GetValue<string>() is { } mode)
        {
            exportArguments["mode"] = mode;
        }
        return BlockExportCommands.Delete(context, exportArguments);
    }
}
