using BlockDaemon.Core.Errors;

namespace BlockDaemon.Core.Graph;

/// <summary>
/// Recomputes permissions below some nodes after an edge changed: checks every node's parents
/// against each other and against other processes (image locks), then commits everywhere or
/// restores everything. Nodes are visited parents-first, each once, so a check never sees a
/// half-updated set of parents.
/// </summary>
internal static class PermissionUpdate
{
    /// <param name="readOnlyMessage">The refusal for a read-only node that would get a writer, where the caller knows better than the default.</param>
    public static void Refresh(IEnumerable<BlockNode> changed, Func<BlockNode, string>? readOnlyMessage = null)
    {
        var order = TopologicalOrder(changed);
        var nodeUndo = new List<(BlockNode Node, BlockPermissions Perm, BlockPermissions Shared)>();
        var edgeUndo = new List<(BlockChild Edge, BlockPermissions Perm, BlockPermissions Shared)>();
        try
        {
            foreach (var node in order)
            {
                CheckParents(node);
                var perm = BlockPermissions.None;
                var shared = BlockPermissions.All;
                foreach (var parent in node.Parents)
                {
                    perm |= parent.Perm;
                    shared &= parent.Shared;
                }
                if (node.ReadOnly && (perm & (BlockPermissions.Write | BlockPermissions.WriteUnchanged)) != 0)
                {
                    throw new BlockException(BlockErrorKind.ReadOnly, readOnlyMessage?.Invoke(node) ?? "Block node is read-only");
                }
                nodeUndo.Add((node, node.CumulativePerm, node.CumulativeShared));
                node.Driver.CheckPermissions(perm, shared);
                node.CumulativePerm = perm;
                node.CumulativeShared = shared;
                foreach (var edge in node.Children)
                {
                    var (childPerm, childShared) = node.Driver.ChildPermissions(edge, perm, shared);
                    if (edge.Node.Common.ForceShare)
                    {
                        // force-share: this reader tolerates anything, so it blocks nobody.
                        childShared = BlockPermissions.All;
                    }
                    edgeUndo.Add((edge, edge.Perm, edge.Shared));
                    edge.Perm = childPerm;
                    edge.Shared = childShared;
                }
            }
        }
        catch
        {
            foreach (var (edge, perm, shared) in edgeUndo)
            {
                edge.Perm = perm;
                edge.Shared = shared;
            }
            foreach (var (node, perm, shared) in nodeUndo)
            {
                node.CumulativePerm = perm;
                node.CumulativeShared = shared;
                node.Driver.SetPermissions(perm, shared);
            }
            throw;
        }
        foreach (var node in order)
        {
            node.Driver.SetPermissions(node.CumulativePerm, node.CumulativeShared);
        }
    }

    // QEMU's bdrv_a_allow_b over every ordered pair of parents (newest first), same message.
    private static void CheckParents(BlockNode node)
    {
        foreach (var a in node.Parents)
        {
            foreach (var b in node.Parents)
            {
                if (ReferenceEquals(a, b) || (b.Perm & a.Shared) == b.Perm)
                {
                    continue;
                }
                throw new BlockException(BlockErrorKind.PermissionConflict,
                    $"Permission conflict on node '{node.NodeName}': permissions '{(b.Perm & ~a.Shared).Describe()}' are both required by " +
                    $"{b.Parent.ParentDescription} (uses node '{node.NodeName}' as '{b.Role}' child) and unshared by " +
                    $"{a.Parent.ParentDescription} (uses node '{node.NodeName}' as '{a.Role}' child).");
            }
        }
    }

    private static List<BlockNode> TopologicalOrder(IEnumerable<BlockNode> roots)
    {
        var visited = new HashSet<BlockNode>();
        var postOrder = new List<BlockNode>();
        foreach (var root in roots)
        {
            Visit(root, visited, postOrder);
        }
        postOrder.Reverse();
        return postOrder;
    }

    private static void Visit(BlockNode node, HashSet<BlockNode> visited, List<BlockNode> postOrder)
    {
        if (!visited.Add(node))
        {
            return;
        }
        foreach (var edge in node.Children)
        {
            Visit(edge.Node, visited, postOrder);
        }
        postOrder.Add(node);
    }
}
