namespace BlockDaemon.Core.Graph;

public sealed partial class BlockGraph
{
    /// <summary>
    /// The pivot of a mirror or active commit (QEMU's bdrv_replace_node): every parent of
    /// <paramref name="from"/> (exports, other nodes whatever the edge's role, a job filter above
    /// it) now uses <paramref name="to"/>, except the edges <paramref name="keep"/> names (the
    /// job's own) and parents at or below <paramref name="to"/>, which would make a loop
    /// (should_update_child). Call it with <paramref name="from"/> drained. A permission conflict
    /// on <paramref name="to"/> undoes it.
    /// </summary>
    public void ReplaceNode(BlockNode from, BlockNode to, Func<BlockChild, bool>? keep = null)
    {
        var moved = from.Parents
            .Where(p => !(keep?.Invoke(p) ?? false) && !(p.Parent is BlockNode parent && IsAtOrBelow(parent, to)))
            .ToList();
        Retarget(moved, to);
        try
        {
            PermissionUpdate.Refresh([to, from]);
        }
        catch
        {
            Retarget(moved, from);
            PermissionUpdate.Refresh([from, to]);
            throw;
        }
    }
}
