using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Core.Graph;

// Graph changes of external snapshots: putting an overlay on top of a node and taking it away
// again, and turning the old top read-only.
public sealed partial class BlockGraph
{
    /// <summary>
    /// QEMU's bdrv_append: <paramref name="top"/> becomes the backing node of
    /// <paramref name="overlay"/>, and every parent of <paramref name="top"/> (exports, other
    /// nodes) now uses <paramref name="overlay"/> instead. The caller holds both nodes drained.
    /// On a permission conflict or a frozen parent link nothing has changed.
    /// </summary>
    public void AppendOverlay(BlockNode overlay, BlockNode top)
    {
        var backingImage = overlay.Driver as IBackingLink
            ?? throw new InvalidOperationException($"Node '{overlay.NodeName}' cannot have a backing image");
        CheckParentLinksNotFrozen(top, overlay);
        // An edge whose parent is the overlay or below it stays: moving it would make a loop.
        var moved = top.Parents.Where(e => !(e.Parent is BlockNode parent && IsAtOrBelow(parent, overlay))).ToList();
        var backing = Link(overlay, top, "backing", BlockPermissions.None, BlockPermissions.All);
        Retarget(moved, overlay);
        backingImage.ReplaceBacking(backing);
        try
        {
            PermissionUpdate.Refresh([overlay]);
        }
        catch
        {
            backingImage.ReplaceBacking(null);
            Retarget(moved, top);
            Unlink(backing);
            PermissionUpdate.Refresh([overlay, top]);
            throw;
        }
    }

    /// <summary>
    /// Undoes <see cref="AppendOverlay"/>: every parent of <paramref name="overlay"/> goes back to
    /// <paramref name="top"/>, and the overlay loses its backing edge. Dropping permissions from
    /// the overlay and giving the old ones back to the top cannot conflict with what was there.
    /// </summary>
    public void RemoveOverlay(BlockNode overlay, BlockNode top)
    {
        var backing = overlay.FindChild("backing");
        if (backing is not null && overlay.Driver is IBackingLink backingImage)
        {
            backingImage.ReplaceBacking(null);
            Unlink(backing);
        }
        Retarget(overlay.Parents.Where(e => !(e.Parent is BlockNode parent && IsAtOrBelow(parent, top))).ToList(), top);
        PermissionUpdate.Refresh([top, overlay]);
    }

    private static bool IsAtOrBelow(BlockNode node, BlockNode root) =>
        ReferenceEquals(node, root) || root.Children.Any(c => IsAtOrBelow(node, c.Node));

    /// <summary>
    /// Turns an open node read-only (QEMU's bdrv_reopen_set_read_only to true), with the node
    /// drained by the caller: the driver writes out what it caches, then the node drops the
    /// write permissions it took on its children.
    /// </summary>
    public async ValueTask MakeReadOnlyAsync(BlockNode node, CancellationToken ct = default)
    {
        if (node.ReadOnly)
        {
            return;
        }
        if ((node.CumulativePerm & (BlockPermissions.Write | BlockPermissions.WriteUnchanged)) != 0)
        {
            throw new BlockException(BlockErrorKind.ReadOnly, $"Node '{node.NodeName}' is still written by its users");
        }
        await node.Driver.PrepareReadOnlyAsync(ct).ConfigureAwait(false);
        node.ReadOnly = true;
        try
        {
            PermissionUpdate.Refresh([node]);
        }
        catch
        {
            node.ReadOnly = false;
            throw;
        }
        // The inline children that take their mode from the node follow it (its file).
        var children = ReadOnlyTargets(node, true).Skip(1).Where(c => !c.ReadOnly).ToList();
        var changed = new List<BlockNode>();
        try
        {
            foreach (var child in children)
            {
                await SwitchAsync(child, true, ct).ConfigureAwait(false);
                changed.Add(child);
            }
            PermissionUpdate.Refresh([node]);
        }
        catch (BlockException)
        {
            for (int i = changed.Count - 1; i >= 0; i--)
            {
                await SwitchAsync(changed[i], false, ct).ConfigureAwait(false);
            }
            PermissionUpdate.Refresh([node]);
            throw;
        }
    }

    /// <summary>Closes a node that no parent uses, owned by the monitor or not (an overlay being undone).</summary>
    public async ValueTask DiscardNodeAsync(BlockNode node, CancellationToken ct = default)
    {
        if (node.Parents.Count > 0)
        {
            throw new BlockException(BlockErrorKind.Busy, $"Block device {node.NodeName} is in use");
        }
        await CloseNodeAsync(node, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a node that lives only as long as someone uses it (a blockdev-snapshot-sync
    /// overlay): blockdev-del refuses it, and it closes when its last user goes
    /// (<see cref="ReleaseUserAsync"/>) or its last parent node closes.
    /// </summary>
    public async ValueTask<BlockNode> AddUnownedNodeAsync(OptionDict options, CancellationToken ct = default)
    {
        var node = await AddNodeAsync(options, ct).ConfigureAwait(false);
        node.MonitorOwned = false;
        return node;
    }

    /// <summary>
    /// Detaches a user, then closes its node if nothing owns or uses it any more, as QEMU drops
    /// a node with its last reference. Runs on the control loop.
    /// </summary>
    public async ValueTask ReleaseUserAsync(BlockUser user, CancellationToken ct = default)
    {
        var node = user.Root?.Node;
        DetachUser(user);
        if (node is not null && !node.MonitorOwned && node.Parents.Count == 0 && ReferenceEquals(FindNode(node.NodeName), node))
        {
            await CloseNodeAsync(node, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Checks a node name the user gives for a node still to be made, as opening it would.</summary>
    public void CheckNewNodeName(string name) => ValidateNewName(name);

    // The edges keep their parents, their permissions and their identity (an export holds its
    // edge); only the node they point at changes, at the front of its parent list as QEMU does.
    private static void Retarget(List<BlockChild> edges, BlockNode to)
    {
        for (int i = edges.Count - 1; i >= 0; i--)
        {
            var edge = edges[i];
            edge.Node.Parents.Remove(edge);
            edge.Node = to;
            to.Parents.Insert(0, edge);
        }
    }
}
