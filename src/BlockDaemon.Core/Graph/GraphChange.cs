namespace BlockDaemon.Core.Graph;

/// <summary>
/// A graph change in progress: every step records how to undo itself. Disposing without
/// <see cref="Commit"/> undoes the steps in reverse order, so a failed blockdev-add leaves the
/// graph exactly as it was (no half-opened children, no stray edges).
/// </summary>
internal sealed class GraphChange : IAsyncDisposable
{
    private readonly List<Func<ValueTask>> _undo = [];
    private readonly List<BlockNode> _opened = [];
    private readonly List<BlockNode> _attachedChildren = [];
    private bool _finished;

    public void OnAbort(Func<ValueTask> undo) => _undo.Add(undo);

    /// <summary>Records a node whose driver finished <c>OpenAsync</c>; children are recorded before their parents.</summary>
    public void Opened(BlockNode node) => _opened.Add(node);

    /// <summary>
    /// Runs <see cref="Io.IBlockDriver.CompleteOpenAsync"/> on every node opened in this change,
    /// children first. Call it once permissions are granted (they are what lets a driver write).
    /// </summary>
    public async ValueTask CompleteOpenAsync(CancellationToken ct)
    {
        foreach (var node in _opened)
        {
            await node.Driver.CompleteOpenAsync(ct).ConfigureAwait(false);
        }
    }

    public void OnAbort(Action undo) => _undo.Add(() =>
    {
        undo();
        return ValueTask.CompletedTask;
    });

    public BlockChild AttachChild(BlockNode parent, BlockNode child, string role)
    {
        var edge = BlockGraph.Link(parent, child, role, BlockPermissions.None, BlockPermissions.All);
        OnAbort(() => BlockGraph.Unlink(edge));
        _attachedChildren.Add(child);
        return edge;
    }

    public void Commit() => _finished = true;

    public async ValueTask DisposeAsync()
    {
        if (_finished)
        {
            return;
        }
        _finished = true;
        for (int i = _undo.Count - 1; i >= 0; i--)
        {
            await _undo[i]().ConfigureAwait(false);
        }
        // A node that existed before the change may have been granted permissions for a new
        // parent (the change failed after they were computed, in CompleteOpenAsync): recompute
        // them without the edges that went away. Dropping permissions cannot conflict.
        var survivors = _attachedChildren.Where(n => ReferenceEquals(n.Graph.FindNode(n.NodeName), n)).Distinct().ToList();
        if (survivors.Count > 0)
        {
            PermissionUpdate.Refresh(survivors);
        }
    }
}
