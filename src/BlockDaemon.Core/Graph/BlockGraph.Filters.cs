using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Core.Graph;

// Filter nodes a job slides above a node while it runs (QEMU's bdrv_insert_node and
// bdrv_drop_filter): backup's copy-before-write today; mirror_top, commit_top and
// copy-on-read are meant to use the same two calls.
public sealed partial class BlockGraph
{
    /// <summary>
    /// Opens the filter node <paramref name="options"/> describe (its <paramref name="childRole"/>
    /// child must name <paramref name="below"/>; other children by name or inline) and moves the
    /// parents of <paramref name="below"/> onto it, so every request they send goes through the
    /// filter. Without a node-name the filter gets an automatic name (<c>#blockN</c>) and is
    /// implicit, as QEMU's job filters are. <paramref name="moves"/> picks the parents that move
    /// (default: users and data parents, not backing links; commit_top moves exactly the
    /// overlay's backing link, stream's copy-on-read every parent but the job's). The filter is never owned by the monitor: only
    /// <see cref="RemoveFilterAsync"/> closes it. Runs with <paramref name="below"/> drained,
    /// so requests in flight finish on it first and requests that arrive meanwhile follow their
    /// edge to the filter. On a permission conflict the graph is as it was and the filter closed.
    /// <paramref name="openErrorPrefix"/> goes before the message of a failure to open the filter
    /// (bdrv_insert_node's "Could not create node: "), not before one of moving the parents.
    /// </summary>
    public async ValueTask<BlockNode> InsertFilterAsync(OptionDict options, BlockNode below, string childRole = "file",
        Func<BlockChild, bool>? moves = null, string? openErrorPrefix = null, CancellationToken ct = default)
    {
        bool implicitName = !options.TryGet("node-name", out var given) || given is null;
        BlockNode? filter = null;
        Exception? failure = null;
        var drained = await DrainedBeginAsync(below, ct).ConfigureAwait(false);
        try
        {
            try
            {
                filter = await AddNodeAsync(options, ct).ConfigureAwait(false);
            }
            catch (BlockException e) when (openErrorPrefix is not null)
            {
                throw new BlockException(e.Kind, openErrorPrefix + e.Message);
            }
            filter.MonitorOwned = false;
            filter.ImplicitFilter = implicitName;
            filter.FilterChildRole = childRole;
            if (filter.FindChild(childRole)?.Node != below)
            {
                throw new InvalidOperationException($"The filter's '{childRole}' child must be node '{below.NodeName}'");
            }
            CheckParentLinksNotFrozen(below, filter);
            var moved = below.Parents.Where(e => e.Parent != filter && (moves?.Invoke(e) ?? MovesToFilter(e, filter))).ToList();
            Retarget(moved, filter);
            try
            {
                PermissionUpdate.Refresh([filter, below]);
            }
            catch
            {
                Retarget(moved, below);
                PermissionUpdate.Refresh([below]);
                throw;
            }
        }
        catch (Exception e)
        {
            failure = e;
        }
        finally
        {
            drained.End();
        }
        if (failure is not null)
        {
            // Closed only now: closing flushes through the node below, which the drain held.
            if (filter is not null)
            {
                await CloseNodeAsync(filter, ct).ConfigureAwait(false);
            }
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
        return filter!;
    }

    /// <summary>
    /// Takes a filter out again: its parents go back to the node below it (its
    /// <see cref="BlockNode.FilterChildRole"/> child), then it closes. Runs with the filter drained.
    /// </summary>
    public async ValueTask RemoveFilterAsync(BlockNode filter, CancellationToken ct = default)
    {
        var below = filter.FindChild(filter.FilterChildRole ?? "file")?.Node
            ?? throw new InvalidOperationException($"Node '{filter.NodeName}' is not a filter over a node");
        var drained = await DrainedBeginAsync(filter, ct).ConfigureAwait(false);
        try
        {
            var moved = filter.Parents.Where(e => !(e.Parent is BlockNode parent && IsAtOrBelow(parent, below))).ToList();
            Retarget(moved, below);
            try
            {
                PermissionUpdate.Refresh([below, filter]);
            }
            catch
            {
                Retarget(moved, filter);
                PermissionUpdate.Refresh([filter, below]);
                throw;
            }
        }
        finally
        {
            drained.End();
        }
        await CloseNodeAsync(filter, ct).ConfigureAwait(false);
    }

    // Which parents of the node below a new filter go through it by default: users (exports,
    // jobs doing I/O as devices) and nodes that read or write it as their data, not the filter's
    // own edges, not a job's hold on the node (QEMU's child_job stays at its node), not backing
    // links (an overlay never writes its backing file, so a filter that acts on writes has
    // nothing to do there; stream's copy-on-read asks for them), and nothing at or below the
    // filter (that would make a loop).
    private static bool MovesToFilter(BlockChild edge, BlockNode filter) => edge.Parent switch
    {
        BlockUser user => !user.IsJobChild,
        BlockNode parent => edge.Role != "backing" && !IsAtOrBelow(parent, filter),
        _ => false,
    };
}
