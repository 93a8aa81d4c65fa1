using System.Numerics;
using System.Text.Json.Nodes;
using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// block-dirty-bitmap-add/-remove/-clear/-enable/-disable/-merge and
/// x-debug-block-dirty-bitmap-sha256, with qsd's checks in qsd's order
/// (block/monitor/bitmap-qmp-cmds.c). Each command is split into a check that has no side
/// effect and an action that returns its undo, so a transaction can run them as actions.
/// </summary>
public static class DirtyBitmapCommands
{
    internal static void Register(CommandRegistry registry)
    {
        registry.Add("block-dirty-bitmap-add", Add);
        registry.Add("block-dirty-bitmap-remove", Remove);
        registry.Add("block-dirty-bitmap-clear", Clear);
        registry.Add("block-dirty-bitmap-enable", Enable);
        registry.Add("block-dirty-bitmap-disable", Disable);
        registry.Add("block-dirty-bitmap-merge", Merge);
        registry.Add("x-debug-block-dirty-bitmap-sha256", Sha256);
    }

    private static async Task<JsonNode?> Add(CommandContext context, JsonObject arguments)
    {
        await AddAsync(context.Graph, arguments).ConfigureAwait(false);
        return null;
    }

    /// <summary>Creates the bitmap; the returned action undoes it (removes it again).</summary>
    public static async Task<Func<Task>> AddAsync(BlockGraph graph, JsonObject arguments)
    {
        string node = arguments["node"]!.GetValue<string>();
        string name = arguments["name"]!.GetValue<string>();
        if (name.Length == 0)
        {
            throw QmpException.Generic("Bitmap name cannot be empty");
        }
        var bs = LookupDevice(graph, node);
        long granularity;
        if (arguments["granularity"] is { } g)
        {
            granularity = g.GetValue<long>();
            if (granularity < 512 || !BitOperations.IsPow2(granularity))
            {
                throw QmpException.Generic("Granularity must be power of 2 and at least 512");
            }
        }
        else
        {
            granularity = bs.DefaultBitmapGranularity;
        }
        bool persistent = arguments["persistent"]?.GetValue<bool>() ?? false;
        bool disabled = arguments["disabled"]?.GetValue<bool>() ?? false;
        var store = bs.Driver as IPersistentBitmapStore;
        if (persistent)
        {
            if (bs.FindDirtyBitmap(name) is not null)
            {
                throw QmpException.Generic($"Bitmap already exists: {name}");
            }
            if (store is null)
            {
                throw QmpException.Generic($"Can't store persistent bitmaps to {bs.NodeName}: {Errno.Text(Errno.ENotSup)}");
            }
            try
            {
                store.CheckCanStore(bs, name, granularity);
            }
            catch (BlockException e)
            {
                throw QmpException.Generic($"Can't make bitmap '{name}' persistent in '{bs.NodeName}': {e.Message}");
            }
        }
        DirtyBitmap bitmap;
        try
        {
            bitmap = bs.CreateDirtyBitmap(name, granularity);
        }
        catch (BlockException e)
        {
            throw QmpErrors.From(e);
        }
        if (disabled)
        {
            bs.DisableDirtyBitmap(bitmap);
        }
        if (persistent)
        {
            bitmap.Persistent = true;
            try
            {
                await store!.AddAsync(bitmap, CancellationToken.None).ConfigureAwait(false);
            }
            catch (BlockException e)
            {
                bs.ReleaseDirtyBitmap(bitmap);
                throw QmpException.Generic($"Can't make bitmap '{name}' persistent in '{bs.NodeName}': {e.Message}");
            }
        }
        return async () =>
        {
            if (bitmap.Persistent && store is not null)
            {
                try
                {
                    await store.RemoveAsync(bitmap, CancellationToken.None).ConfigureAwait(false);
                }
                catch (BlockException)
                {
                    // Still in the image: it must keep recording there, or the next open would
                    // load a bitmap that missed writes. Kept is safe; released would not be.
                    return;
                }
            }
            bs.ReleaseDirtyBitmap(bitmap);
        };
    }

    private static async Task<JsonNode?> Remove(CommandContext context, JsonObject arguments)
    {
        var (bs, bitmap) = CheckRemove(context.Graph, arguments);
        await RemoveCheckedAsync(bs, bitmap).ConfigureAwait(false);
        return null;
    }

    /// <summary>block_dirty_bitmap_remove's checks (an inconsistent bitmap may go), no side effect.</summary>
    public static (BlockNode Node, DirtyBitmap Bitmap) CheckRemove(BlockGraph graph, JsonObject arguments)
    {
        var (bs, bitmap) = Lookup(graph, arguments["node"]!.GetValue<string>(), arguments["name"]!.GetValue<string>());
        Check(bitmap, allowReadOnly: false, allowInconsistent: true);
        return (bs, bitmap);
    }

    /// <summary>Takes a checked bitmap out of the image (if stored there) and off its node.</summary>
    public static async Task RemoveCheckedAsync(BlockNode bs, DirtyBitmap bitmap)
    {
        if (bitmap.Persistent && bs.Driver is IPersistentBitmapStore store)
        {
            try
            {
                await store.RemoveAsync(bitmap, CancellationToken.None).ConfigureAwait(false);
            }
            catch (BlockException e)
            {
                throw QmpErrors.From(e);
            }
        }
        bs.ReleaseDirtyBitmap(bitmap);
    }

    private static async Task<JsonNode?> Clear(CommandContext context, JsonObject arguments)
    {
        ClearAction(context.Graph, arguments, keepUndo: false);
        await SyncAsync(context.Graph, arguments["node"]!.GetValue<string>()).ConfigureAwait(false);
        return null;
    }

    /// <summary>
    /// Clears the bitmap; the returned action puts its bits back (a copy of them is kept only
    /// with <paramref name="keepUndo"/>, for transactions).
    /// </summary>
    public static Action ClearAction(BlockGraph graph, JsonObject arguments, bool keepUndo = true)
    {
        var (_, bitmap) = Lookup(graph, arguments["node"]!.GetValue<string>(), arguments["name"]!.GetValue<string>());
        Check(bitmap, allowReadOnly: false, allowInconsistent: false);
        var backup = bitmap.Clear(keepUndo);
        return () =>
        {
            if (backup is not null)
            {
                bitmap.Restore(backup);
            }
        };
    }

    private static async Task<JsonNode?> Enable(CommandContext context, JsonObject arguments)
    {
        SetRecording(context.Graph, arguments, record: true);
        await SyncAsync(context.Graph, arguments["node"]!.GetValue<string>()).ConfigureAwait(false);
        return null;
    }

    private static async Task<JsonNode?> Disable(CommandContext context, JsonObject arguments)
    {
        SetRecording(context.Graph, arguments, record: false);
        await SyncAsync(context.Graph, arguments["node"]!.GetValue<string>()).ConfigureAwait(false);
        return null;
    }

    /// <summary>Enables or disables recording; the returned action restores the previous state.</summary>
    public static Action SetRecording(BlockGraph graph, JsonObject arguments, bool record)
    {
        var (bs, bitmap) = Lookup(graph, arguments["node"]!.GetValue<string>(), arguments["name"]!.GetValue<string>());
        Check(bitmap, allowReadOnly: true, allowInconsistent: false);
        bool wasDisabled = bitmap.Disabled;
        if (record)
        {
            bs.EnableDirtyBitmap(bitmap);
        }
        else
        {
            bs.DisableDirtyBitmap(bitmap);
        }
        return () =>
        {
            if (wasDisabled)
            {
                bs.DisableDirtyBitmap(bitmap);
            }
            else
            {
                bs.EnableDirtyBitmap(bitmap);
            }
        };
    }

    private static async Task<JsonNode?> Merge(CommandContext context, JsonObject arguments)
    {
        MergeAction(context.Graph, arguments, keepUndo: false);
        await SyncAsync(context.Graph, arguments["node"]!.GetValue<string>()).ConfigureAwait(false);
        return null;
    }

    /// <summary>
    /// Makes a changed persistent bitmap durable at once (a command's effect survives a crash).
    /// A failure here is not the command's: the change stands and the next flush retries.
    /// </summary>
    public static Task SyncAsync(BlockGraph graph, string node) =>
        FindDevice(graph, node) is { } bs ? SyncAsync(bs) : Task.CompletedTask;

    /// <inheritdoc cref="SyncAsync(BlockGraph, string)"/>
    public static async Task SyncAsync(BlockNode bs)
    {
        if (bs.Driver is IPersistentBitmapStore store)
        {
            try
            {
                await store.SyncAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (BlockException)
            {
            }
        }
    }

    /// <summary>
    /// Merges the sources into the target through a scratch bitmap (the target is unchanged if
    /// any source fails); the returned action restores the target's previous bits.
    /// </summary>
    public static Action MergeAction(BlockGraph graph, JsonObject arguments, bool keepUndo = true)
    {
        var (bs, target) = Lookup(graph, arguments["node"]!.GetValue<string>(), arguments["target"]!.GetValue<string>());
        var sourceList = arguments["bitmaps"]!.AsArray();
        if (sourceList.Count == 0)
        {
            Check(target, allowReadOnly: false, allowInconsistent: false);
        }
        var sources = new List<DirtyBitmap>();
        foreach (var source in sourceList)
        {
            DirtyBitmap bitmap;
            if (source is JsonObject external)
            {
                bitmap = Lookup(graph, external["node"]!.GetValue<string>(), external["name"]!.GetValue<string>()).Bitmap;
            }
            else
            {
                string name = source!.GetValue<string>();
                bitmap = bs.FindDirtyBitmap(name) ?? throw QmpException.Generic($"Dirty bitmap '{name}' not found");
            }
            // qsd checks the target as each source is merged, after that source's lookup: a
            // missing first source is reported before a busy target.
            Check(target, allowReadOnly: false, allowInconsistent: false);
            Check(bitmap, allowReadOnly: true, allowInconsistent: false);
            // qsd merges every source into an anonymous bitmap of the target's node first, so a
            // source of another size fails before the target changes.
            if (bitmap.DiskLength != bs.Length)
            {
                throw QmpException.Generic(
                    $"Bitmaps are of different sizes (destination size is {bs.Length}, source size is {bitmap.DiskLength}) and can't be merged");
            }
            sources.Add(bitmap);
        }
        if (target.DiskLength != bs.Length)
        {
            throw QmpException.Generic(
                $"Bitmaps are of different sizes (destination size is {target.DiskLength}, source size is {bs.Length}) and can't be merged");
        }
        // Every check passed: the target changes now, with its old bits kept for undo.
        HierarchicalBitmap? backup = null;
        bool first = true;
        foreach (var source in sources)
        {
            var old = target.MergeFrom(source, keepBackup: keepUndo && first);
            backup ??= old;
            first = false;
        }
        if (keepUndo && backup is null)
        {
            backup = target.MergeFrom(target);
        }
        return () =>
        {
            if (backup is not null)
            {
                target.Restore(backup);
            }
        };
    }

    private static Task<JsonNode?> Sha256(CommandContext context, JsonObject arguments)
    {
        var (_, bitmap) = Lookup(context.Graph, arguments["node"]!.GetValue<string>(), arguments["name"]!.GetValue<string>());
        return Task.FromResult<JsonNode?>(new JsonObject { ["sha256"] = bitmap.Sha256() });
    }

    /// <summary>block_dirty_bitmap_lookup, with its messages.</summary>
    public static (BlockNode Node, DirtyBitmap Bitmap) Lookup(BlockGraph graph, string node, string name)
    {
        var bs = FindDevice(graph, node) ?? throw QmpException.Generic($"Node '{node}' not found");
        var bitmap = bs.FindDirtyBitmap(name) ?? throw QmpException.Generic($"Dirty bitmap '{name}' not found");
        return (bs, bitmap);
    }

    private static BlockNode LookupDevice(BlockGraph graph, string node) =>
        FindDevice(graph, node) ?? throw QmpException.Generic($"Cannot find device='{node}' nor node-name='{node}'");

    /// <summary>bdrv_lookup_bs(node, node): a named backend's root first, then a node name.</summary>
    public static BlockNode? FindDevice(BlockGraph graph, string name) =>
        graph.Users.FirstOrDefault(u => u.Name == name && u.Root is not null)?.Root!.Node ?? graph.FindNode(name);

    private static void Check(DirtyBitmap bitmap, bool allowReadOnly, bool allowInconsistent)
    {
        try
        {
            bitmap.Check(allowReadOnly, allowInconsistent);
        }
        catch (BlockException e)
        {
            throw QmpErrors.From(e);
        }
    }
}
