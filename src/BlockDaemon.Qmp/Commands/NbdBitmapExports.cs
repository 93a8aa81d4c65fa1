using System.Text.Json.Nodes;
using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// block-export-add "bitmaps": each names a bitmap of the exported node or of a node below it
/// in its backing chain, or {node, name} anywhere; checked as qsd's nbd_export_create does.
/// </summary>
internal static class NbdBitmapExports
{
    public static List<(string Name, DirtyBitmap Bitmap)> Resolve(BlockGraph graph, BlockNode node, JsonArray bitmaps, bool writable)
    {
        var contexts = new List<(string Name, DirtyBitmap Bitmap)>();
        foreach (var item in bitmaps)
        {
            DirtyBitmap? bitmap = null;
            string name;
            if (item is JsonObject external)
            {
                name = external["name"]!.GetValue<string>();
                bitmap = DirtyBitmapCommands.Lookup(graph, external["node"]!.GetValue<string>(), name).Bitmap;
            }
            else
            {
                name = item!.GetValue<string>();
                BlockNode? owner = null;
                for (var bs = node; bs is not null; bs = bs.FindChild("backing")?.Node)
                {
                    if (bs.FindDirtyBitmap(name) is { } found)
                    {
                        (bitmap, owner) = (found, bs);
                        break;
                    }
                }
                if (bitmap is null)
                {
                    throw QmpException.Generic($"Bitmap '{name}' is not found");
                }
                // A read-only client would see a map that keeps changing under it.
                if (!writable && !owner!.ReadOnly && !bitmap.Disabled)
                {
                    throw QmpException.Generic($"Enabled bitmap '{name}' incompatible with readonly export");
                }
            }
            try
            {
                bitmap.Check(allowReadOnly: true);
            }
            catch (BlockException e)
            {
                throw QmpErrors.From(e);
            }
            contexts.Add((name, bitmap));
        }
        return contexts;
    }
}
