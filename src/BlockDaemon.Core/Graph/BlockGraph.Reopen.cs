using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Core.Graph;

public sealed partial class BlockGraph
{
    /// <summary>
    /// Makes a node read-write or read-only while open, as jobs need for the image they write
    /// (QEMU's bdrv_reopen_set_read_only): the node and the children it created inline that take
    /// their mode from it, not a file node added on its own, which keeps its mode (so a format
    /// node over a read-only one cannot become writable: "Block node is read-only"). Each node is
    /// drained around its change; a node going read-only is flushed first. Permissions are
    /// recomputed from the top; a failure undoes the change.
    /// </summary>
    public async ValueTask SetReadOnlyAsync(BlockNode node, bool readOnly, CancellationToken ct = default)
    {
        var nodes = ReadOnlyTargets(node, readOnly);
        var changed = new List<BlockNode>();
        try
        {
            // Read-write: children first, so the format may write once it is switched.
            // Read-only: parents first, so their last metadata reaches a still writable child.
            var order = readOnly ? nodes : Enumerable.Reverse(nodes).ToList();
            foreach (var n in order)
            {
                if (n.ReadOnly == readOnly)
                {
                    continue;
                }
                await SwitchAsync(n, readOnly, ct).ConfigureAwait(false);
                changed.Add(n);
            }
            PermissionUpdate.Refresh([node]);
            if (!readOnly)
            {
                await node.Driver.CompleteOpenAsync(ct).ConfigureAwait(false);
            }
        }
        catch (BlockException) when (changed.Count > 0)
        {
            for (int i = changed.Count - 1; i >= 0; i--)
            {
                await SwitchAsync(changed[i], !readOnly, ct).ConfigureAwait(false);
            }
            PermissionUpdate.Refresh([node]);
            throw;
        }
    }

    // The node, then (parents first) the inline children that would take the new mode from it:
    // those whose own options do not fix read-only.
    private static List<BlockNode> ReadOnlyTargets(BlockNode node, bool readOnly)
    {
        var given = new OptionDict();
        given.Set("read-only", readOnly);
        var queue = new List<ReopenEntry>();
        QueueReopen(queue, node, given, parent: null, keepOld: true);
        var targets = new List<BlockNode> { node };
        foreach (var entry in queue.Skip(1))
        {
            bool childReadOnly;
            try
            {
                childReadOnly = NodeOptions.Parse(entry.Explicit, entry.InheritFrom, reopen: true).Common.ReadOnly;
            }
            catch (BlockException)
            {
                continue;
            }
            if (childReadOnly == readOnly)
            {
                targets.Add(entry.Node);
            }
        }
        return targets;
    }

    private static async ValueTask SwitchAsync(BlockNode node, bool readOnly, CancellationToken ct)
    {
        var drained = await node.Graph.DrainedBeginAsync(node, ct).ConfigureAwait(false);
        try
        {
            if (readOnly)
            {
                await node.Driver.FlushAsync(ct).ConfigureAwait(false);
            }
            if (node.Driver is IReopenable reopenable)
            {
                await reopenable.ReopenAsync(readOnly, ct).ConfigureAwait(false);
            }
            node.ReadOnly = readOnly;
        }
        finally
        {
            drained.End();
        }
    }
}
