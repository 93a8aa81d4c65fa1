using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// What the dirty-bitmap actions (block_dirty_bitmap_*_prepare in QEMU's blockdev.c) share:
/// qsd's completion-mode check first; then the nodes whose bitmaps the action reads or changes
/// are held drained until clean, so that no write is marked between two actions of the
/// transaction (a checkpoint that adds a bitmap and disables the previous one loses no write
/// to the gap); then the action's own checks and change, done by the same code as the
/// command's (<see cref="DirtyBitmapCommands"/>). Clean makes the outcome durable in the images
/// (a persistent bitmap's change survives a crash once the transaction has answered).
/// </summary>
public abstract class DirtyBitmapAction(TransactionContext tx, JsonObject data, string type) : ITransactionAction
{
    private readonly List<BlockNode> _drained = [];
    private readonly List<BlockNode> _changed = [];

    protected TransactionContext Tx { get; } = tx;

    protected JsonObject Data { get; } = data;

    protected BlockGraph Graph => Tx.Graph;

    public async ValueTask PrepareAsync(CancellationToken ct)
    {
        Tx.RequireIndividualCompletion(type);
        // Names that do not resolve are left to the checks below, which report them in qsd's order.
        foreach (string name in NodeNames())
        {
            if (DirtyBitmapCommands.FindDevice(Graph, name) is { } node)
            {
                foreach (var held in WritersOf(node))
                {
                    if (!_drained.Contains(held))
                    {
                        await held.Requests.DrainAsync(ct).ConfigureAwait(false);
                        _drained.Add(held);
                    }
                }
                if (!_changed.Contains(node))
                {
                    _changed.Add(node);
                }
            }
        }
        await PrepareDrainedAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The names (device or node) of the nodes whose bitmaps the action uses.</summary>
    protected abstract IEnumerable<string> NodeNames();

    /// <summary>Checks and changes, with the nodes drained; whatever it did must be undoable by abort.</summary>
    protected abstract ValueTask PrepareDrainedAsync(CancellationToken ct);

    public virtual ValueTask CommitAsync(CancellationToken ct) => ValueTask.CompletedTask;

    public abstract ValueTask AbortAsync(CancellationToken ct);

    public async ValueTask CleanAsync(CancellationToken ct)
    {
        foreach (var node in _changed)
        {
            // A node another action of the transaction closed (an overlay nobody used) has nothing left to sync.
            if (ReferenceEquals(Graph.FindNode(node.NodeName), node))
            {
                await DirtyBitmapCommands.SyncAsync(node).ConfigureAwait(false);
            }
        }
        _changed.Clear();
        foreach (var node in _drained)
        {
            node.Requests.EndDrain();
        }
        _drained.Clear();
    }

    /// <summary>
    /// The nodes to drain so that nothing marks the node's bitmaps: the node itself, unless it is
    /// a format's file or a filter's child, whose writes come from its parent's requests; then
    /// the parent is drained instead. Draining the child itself would hold up the parent's own
    /// metadata writes, which a persistent bitmap's store needs during the transaction.
    /// </summary>
    internal static IEnumerable<BlockNode> WritersOf(BlockNode node)
    {
        var parents = node.Parents
            .Where(edge => edge.Role != "backing" && edge.Parent is BlockNode)
            .Select(edge => (BlockNode)edge.Parent)
            .Distinct()
            .ToList();
        if (parents.Count == 0)
        {
            return [node];
        }
        return parents.SelectMany(WritersOf).Distinct();
    }
}
