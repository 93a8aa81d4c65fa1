namespace BlockDaemon.Core.Graph;

// Cycle checks for the links a blockdev-reopen sets. qsd stages each set's new backing and file
// links before it checks the next set, so a later set is checked against the graph as the
// earlier sets leave it: one set may detach a link that would otherwise close a cycle.
public sealed partial class BlockGraph
{
    private static bool WouldCreateCycle(BlockNode parent, BlockNode newChild, IReadOnlyList<ReopenPlan> planned)
    {
        var seen = new HashSet<BlockNode>();
        var pending = new Stack<BlockNode>();
        pending.Push(newChild);
        while (pending.TryPop(out var node))
        {
            if (node == parent)
            {
                return true;
            }
            if (!seen.Add(node))
            {
                continue;
            }
            foreach (var child in PlannedChildren(node, planned))
            {
                pending.Push(child);
            }
        }
        return false;
    }

    private static IEnumerable<BlockNode> PlannedChildren(BlockNode node, IReadOnlyList<ReopenPlan> planned)
    {
        var plan = planned.LastOrDefault(p => p.Node == node);
        foreach (var edge in node.Children)
        {
            if (plan is not null && edge.Role == "backing" && plan.ChangeBacking)
            {
                continue;
            }
            var moved = plan?.ChildChanges.FirstOrDefault(c => c.Edge == edge);
            yield return moved is { To: { } to } ? to : edge.Node;
        }
        if (plan is { ChangeBacking: true, Backing: { } backing })
        {
            yield return backing;
        }
    }
}
