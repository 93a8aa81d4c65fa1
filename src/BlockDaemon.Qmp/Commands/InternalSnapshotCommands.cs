using System.Text;
using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// block-core.json: internal snapshots of a root node's image (blockdev-snapshot-internal-sync,
/// blockdev-snapshot-delete-internal-sync), with qsd's checks in qsd's order and words.
/// </summary>
public static class InternalSnapshotCommands
{
    // QEMUSnapshotInfo.name is a 256-byte C string: qsd keeps the first 255 bytes of the name.
    private const int MaxNameBytes = 255;

    internal static void Register(CommandRegistry registry)
    {
        registry.Add("blockdev-snapshot-internal-sync", Create);
        registry.Add("blockdev-snapshot-delete-internal-sync", Delete);
    }

    // A transaction of one action, as in QEMU.
    private static async Task<JsonNode?> Create(CommandContext context, JsonObject arguments)
    {
        await Transactions.TransactionRunner.RunOneAsync(context, "blockdev-snapshot-internal-sync", arguments).ConfigureAwait(false);
        return null;
    }

    private static async Task<JsonNode?> Delete(CommandContext context, JsonObject arguments)
    {
        string device = arguments["device"]!.GetValue<string>();
        var selector = new SnapshotSelector(arguments["id"]?.GetValue<string>(), arguments["name"]?.GetValue<string>());
        var node = RootNodeLookup.Find(context, device);
        if (selector.IsEmpty)
        {
            throw QmpException.Generic("Name or id must be provided");
        }
        var (target, snapshots) = SnapshotTarget(node);
        if (snapshots is null)
        {
            // qsd looks the snapshot up first, and a format without snapshots has no list.
            throw QmpException.Generic("Failed to get a snapshot list: " + Errno.Text(Errno.ENotSup));
        }
        if (selector.IndexIn(List(snapshots), s => s.Id, s => s.Name) < 0)
        {
            throw QmpException.Generic(
                $"Snapshot with id '{selector.Id ?? "null"}' and name '{selector.Name ?? "null"}' does not exist on device '{device}'");
        }
        try
        {
            var deleted = await target.RunDrainedAsync(ct => snapshots.DeleteSnapshotAsync(selector, ct)).ConfigureAwait(false);
            return ImageInfoBuilder.Snapshot(deleted);
        }
        catch (BlockException e)
        {
            throw QmpErrors.From(e);
        }
    }

    internal static IReadOnlyList<ImageSnapshot> List(IInternalSnapshots snapshots)
    {
        try
        {
            return snapshots.ListSnapshots();
        }
        catch (BlockException e)
        {
            throw QmpException.Generic("Failed to get a snapshot list: " + QmpErrors.Reason(e));
        }
    }

    /// <summary>
    /// The node that keeps the snapshots: this one when its driver can, else (QEMU's
    /// bdrv_snapshot_fallback) its only child, e.g. a raw node over a qcow2 node.
    /// </summary>
    internal static (BlockNode Node, IInternalSnapshots? Snapshots) SnapshotTarget(BlockNode node)
    {
        while (true)
        {
            if (node.Driver is IInternalSnapshots snapshots)
            {
                return (node, snapshots);
            }
            if (node.Children.Count != 1 || node.Children[0].Role != "file")
            {
                return (node, null);
            }
            node = node.Children[0].Node;
        }
    }

    internal static string TruncateName(string name) => Truncate(name, MaxNameBytes);

    private static string Truncate(string name, int maxBytes)
    {
        if (Encoding.UTF8.GetByteCount(name) <= maxBytes)
        {
            return name;
        }
        // Cut at a character boundary: blockd keeps names valid UTF-8.
        int length = name.Length;
        while (Encoding.UTF8.GetByteCount(name.AsSpan(0, length)) > maxBytes || (length > 0 && char.IsHighSurrogate(name[length - 1])))
        {
            length--;
        }
        return name[..length];
    }
}
