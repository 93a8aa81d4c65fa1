namespace BlockDaemon.Core.Graph;

public sealed partial class BlockGraph
{
    /// <summary>
    /// The pivot of an active commit (QEMU's bdrv_replace_node for block backends): every user
    /// of <paramref name="from"/> (exports, other jobs' edges; not nodes, whose links are
    /// backing-chain business) now uses <paramref name="to"/>. Call it with
    /// <paramref name="from"/> drained. A permission conflict on <paramref name="to"/> undoes it.
    /// </summary>
    public void ReplaceNodeForUsers(BlockNode from, BlockNode to, Func<BlockChild, bool>? keep = null)
    {
        var moved = from.Parents.Where(p => p.Parent is BlockUser && !(keep?.Invoke(p) ?? false)).ToList();
        foreach (var edge in moved)
        {
            from.Parents.Remove(edge);
            edge.Node = to;
            to.Parents.Insert(0, edge);
        }
        try
        {
            PermissionUpdate.Refresh([to, from]);
        }
        catch
        {
            foreach (var edge in moved)
            {
                to.Parents.Remove(edge);
                edge.Node = from;
                from.Parents.Insert(0, edge);
            }
            PermissionUpdate.Refresh([from, to]);
            throw;
        }
    }
}
