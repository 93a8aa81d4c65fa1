using BlockDaemon.Core.Errors;

namespace BlockDaemon.Core.Graph;

// blockdev-reopen pointing a child other than backing (usually "file") at another existing
// node, as QEMU allows since 6.0: the way to slide a filter created by blockdev-add (a
// copy-before-write for fleecing) under a node that already has users, e.g. a raw node an
// export writes through.
public sealed partial class BlockGraph
{
    private static void PlanChildChange(ReopenPlan plan, BlockChild edge, BlockNode target, IReadOnlyList<ReopenPlan> planned)
    {
        var node = plan.Node;
        if (WouldCreateCycle(node, target, planned))
        {
            throw BlockException.Invalid($"Making '{target.NodeName}' a {edge.Role} child of '{node.NodeName}' would create a cycle");
        }
        if (edge.Node.ImplicitFilter)
        {
            throw BlockException.Invalid($"Cannot replace implicit {edge.Role} child of {node.NodeName}");
        }
        plan.ChildChanges.Add((edge, target));
    }

    // The old child is drained while the edge moves, so requests it holds finish there and those
    // that wait follow the edge to the new node. Permissions are then worked out afresh for
    // both; a conflict moves the edge back.
    private async ValueTask ApplyChildChangesAsync(ReopenPlan plan, Stack<Func<ValueTask>> undo, CancellationToken ct)
    {
        foreach (var (edge, to) in plan.ChildChanges)
        {
            var from = edge.Node;
            plan.DroppedChildren.Add(from);
            await MoveEdgeAsync(edge, from, to, ct).ConfigureAwait(false);
            undo.Push(() => MoveEdgeAsync(edge, to, from, CancellationToken.None));
            var oldOptions = plan.Node.FullOptions;
            var options = oldOptions.Clone();
            options.Set(edge.Role, to.NodeName);
            plan.Node.FullOptions = options;
            undo.Push(() =>
            {
                plan.Node.FullOptions = oldOptions;
                return ValueTask.CompletedTask;
            });
        }
    }

    // Once the whole reopen stands: an old child left without users that the monitor does not
    // own (one created inline) goes away, as QEMU drops its last reference to it.
    private async ValueTask CloseDroppedChildrenAsync(List<ReopenPlan> plans, CancellationToken ct)
    {
        foreach (var dropped in plans.SelectMany(p => p.DroppedChildren))
        {
            if (!dropped.MonitorOwned && dropped.Parents.Count == 0 && _nodes.ContainsKey(dropped.NodeName))
            {
                await CloseNodeAsync(dropped, ct).ConfigureAwait(false);
            }
        }
    }

    private static async ValueTask MoveEdgeAsync(BlockChild edge, BlockNode from, BlockNode to, CancellationToken ct)
    {
        var drained = await from.Graph.DrainedBeginAsync(from, ct).ConfigureAwait(false);
        try
        {
            Retarget([edge], to);
            try
            {
                PermissionUpdate.Refresh([to, from]);
            }
            catch
            {
                Retarget([edge], from);
                PermissionUpdate.Refresh([from, to]);
                throw;
            }
        }
        finally
        {
            drained.End();
        }
    }
}
