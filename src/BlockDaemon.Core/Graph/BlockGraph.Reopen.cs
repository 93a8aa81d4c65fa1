using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Graph;

public sealed partial class BlockGraph
{
    /// <summary>
    /// Makes a format node and the protocol nodes under it (its "file" children) read-write or
    /// read-only while open, as jobs need for the image they write (QEMU's
    /// bdrv_reopen_set_read_only). Each node is drained around its change; a node going read-only
    /// is flushed first. Permissions are recomputed from the top; a failure undoes the change.
    /// </summary>
    public async ValueTask SetReadOnlyAsync(BlockNode node, bool readOnly, CancellationToken ct = default)
    {
        var nodes = new List<BlockNode>();
        for (var n = node; n is not null; n = n.FindChild("file")?.Node)
        {
            nodes.Add(n);
        }
        var changed = new List<BlockNode>();
        try
        {
            // Read-write: protocol first, so the format may write once it is switched.
            // Read-only: format first, so its last metadata reaches a still writable file.
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
