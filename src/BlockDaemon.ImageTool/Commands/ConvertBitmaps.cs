using System.Text.Json.Nodes;
using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Errors;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qmp;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// convert --bitmaps [--skip-broken-bitmaps]: every persistent bitmap of the (single) source is
/// created in the target with its granularity and enabled state and filled from the source,
/// after the data, with qemu-img 7.2's checks and messages.
/// </summary>
internal static class ConvertBitmaps
{
    public static void CheckSources(IReadOnlyList<OpenedImage> sources)
    {
        if (sources.Count > 1)
        {
            throw new ToolException("Copying bitmaps only possible with single source");
        }
    }

    /// <summary>Inconsistent bitmaps stop the copy unless they are to be skipped (checked before any target exists).</summary>
    public static void CheckInconsistent(OpenedImage source, bool skipBroken)
    {
        if (skipBroken)
        {
            return;
        }
        if (source.Node.DirtyBitmaps.FirstOrDefault(b => b.Persistent && b.Inconsistent) is { } broken)
        {
            throw new ToolException($"Cannot copy inconsistent bitmap '{broken.Name}'")
            {
                Hint = $"Try --skip-broken-bitmaps, or use '{ImageTool.Name} bitmap --remove' to delete it\n",
            };
        }
    }

    public static void CheckTargetFormat(string format, string? compat)
    {
        if (format != "qcow2" || compat is "0.10" or "v2")
        {
            throw new ToolException($"Format driver '{format}' does not support bitmaps");
        }
    }

    public static void CheckTarget(OpenedImage target)
    {
        bool v2 = target.Node.Driver is BlockDaemon.Qcow2.Qcow2Driver qcow2
            && qcow2.GetImageInfo().FormatSpecific.Any(p => p.Key == "compat" && p.Value as string == "0.10");
        if (target.Node.Driver is not IPersistentBitmapStore || v2)
        {
            throw new ToolException($"Format driver '{target.Format}' does not support bitmaps");
        }
    }

    public static async ValueTask CopyAsync(OpenedImage source, OpenedImage target, bool skipBroken, TextWriter stderr, CancellationToken ct)
    {
        try
        {
            foreach (var bitmap in source.Node.DirtyBitmaps.Where(b => b.Persistent).ToList())
            {
                string name = bitmap.Name!;
                if (skipBroken && bitmap.Inconsistent)
                {
                    stderr.Write($"{ImageTool.Name}: warning: Skipping inconsistent bitmap '{name}'\n");
                    continue;
                }
                try
                {
                    await DirtyBitmapCommands.AddAsync(target.Graph, new JsonObject
                    {
                        ["node"] = target.Node.NodeName,
                        ["name"] = name,
                        ["granularity"] = bitmap.Granularity,
                        ["persistent"] = true,
                        ["disabled"] = bitmap.Disabled,
                    }).ConfigureAwait(false);
                }
                catch (Exception e) when (e is QmpException or BlockException)
                {
                    throw new ToolException($"Failed to create bitmap {name}: {e.Message}");
                }
                try
                {
                    BitmapCommand.Merge(target.Node, name, source.Node, name);
                }
                catch (BlockException e)
                {
                    if (target.Node.FindDirtyBitmap(name) is { } created && target.Node.Driver is IPersistentBitmapStore store)
                    {
                        await store.RemoveAsync(created, ct).ConfigureAwait(false);
                        target.Node.ReleaseDirtyBitmap(created);
                    }
                    throw new ToolException($"Failed to populate bitmap {name}: {e.Message}");
                }
            }
        }
        finally
        {
            if (target.Node.Driver is IPersistentBitmapStore store)
            {
                await store.SyncAsync(ct).ConfigureAwait(false);
            }
        }
    }
}
