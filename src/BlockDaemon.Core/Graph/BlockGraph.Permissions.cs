namespace BlockDaemon.Core.Graph;

public sealed partial class BlockGraph
{
    /// <summary>
    /// Changes what an edge takes and shares (QEMU's blk_set_perm): a mirror gives up its hold on
    /// the target just before users move onto it. A conflict leaves the edge as it was.
    /// </summary>
    public void SetPermissions(BlockChild edge, BlockPermissions perm, BlockPermissions shared)
    {
        var (oldPerm, oldShared) = (edge.Perm, edge.Shared);
        edge.Perm = perm;
        edge.Shared = shared;
        try
        {
            PermissionUpdate.Refresh([edge.Node]);
        }
        catch
        {
            edge.Perm = oldPerm;
            edge.Shared = oldShared;
            PermissionUpdate.Refresh([edge.Node]);
            throw;
        }
    }
}
