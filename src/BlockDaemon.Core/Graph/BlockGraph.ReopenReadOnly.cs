using BlockDaemon.Core.Errors;

namespace BlockDaemon.Core.Graph;

// blockdev-reopen's read-only changes. Each reopened node switches on its own (a child added on
// its own keeps its mode, so a format node cannot go read-write over a read-only file), then
// permissions are worked out once for the whole set, as qsd does after preparing every node.
public sealed partial class BlockGraph
{
    // Users (exports, jobs) keep what they hold whatever the reopen does, so a read-only node
    // they write through is refused before anything changes.
    private static void CheckReadOnlyUsers(List<ReopenPlan> plans)
    {
        foreach (var plan in plans.Where(p => p.Common.ReadOnly))
        {
            if (plan.Node.Parents.Any(e => e.Parent is BlockUser && (e.Perm & (BlockPermissions.Write | BlockPermissions.WriteUnchanged)) != 0))
            {
                throw new BlockException(BlockErrorKind.ReadOnly, ReadOnlyRefusal(plan.Node, plan.Node.ReadOnly));
            }
        }
    }

    // qsd names the node only when it is writable now and the reopen would take that away.
    private static string ReadOnlyRefusal(BlockNode node, bool readOnlyNow) =>
        readOnlyNow ? "Block node is read-only" : $"Read-only block node '{node.NodeName}' cannot support read-write users";

    private async ValueTask ApplyReadOnlyAsync(List<ReopenPlan> plans, Stack<Func<ValueTask>> undo, CancellationToken ct)
    {
        var readOnlyBefore = plans.ToDictionary(p => p.Node, p => p.Node.ReadOnly);
        var nodes = plans.Select(p => p.Node).ToList();
        // Runs after the switches below are undone, so permissions are those of the old modes again.
        undo.Push(() =>
        {
            PermissionUpdate.Refresh(nodes);
            return ValueTask.CompletedTask;
        });
        // Parents come before their children in the plans. Read-only: parents first, so their
        // last metadata reaches a still writable child. Read-write: children first.
        foreach (var plan in plans.Where(p => p.Common.ReadOnly && !p.Node.ReadOnly))
        {
            await SwitchAsync(plan.Node, true, ct).ConfigureAwait(false);
            undo.Push(() => SwitchAsync(plan.Node, false, CancellationToken.None));
        }
        var toWritable = plans.Where(p => !p.Common.ReadOnly && p.Node.ReadOnly).Reverse().ToList();
        foreach (var plan in toWritable)
        {
            await SwitchAsync(plan.Node, false, ct).ConfigureAwait(false);
            undo.Push(() => SwitchAsync(plan.Node, true, CancellationToken.None));
        }
        foreach (var plan in plans)
        {
            var node = plan.Node;
            var oldCommon = node.Common;
            node.Common = plan.Common;
            undo.Push(() =>
            {
                node.Common = oldCommon;
                return ValueTask.CompletedTask;
            });
        }
        PermissionUpdate.Refresh(nodes, n => ReadOnlyRefusal(n, readOnlyBefore.GetValueOrDefault(n, n.ReadOnly)));
        foreach (var plan in toWritable)
        {
            await plan.Node.Driver.CompleteOpenAsync(ct).ConfigureAwait(false);
        }
    }
}
