namespace BlockDaemon.Core.Graph;

/// <summary>
/// A graph change in progress: every step records how to undo itself. Disposing without
/// <see cref="Commit"/> undoes the steps in reverse order, so a failed blockdev-add leaves the
/// graph exactly as it was (no half-opened children, no stray edges).
/// </summary>
internal sealed class GraphChange : IAsyncDisposable
{
    private readonly List<Func<ValueTask>> _undo = [];
    private bool _committed;

    public void OnAbort(Func<ValueTask> undo) => _undo.Add(undo);

    public void OnAbort(Action undo) => _undo.Add(() =>
    {
        undo();
        return ValueTask.CompletedTask;
    });

    public BlockChild AttachChild(BlockNode parent, BlockNode child, string role)
    {
        var edge = BlockGraph.Link(parent, child, role, BlockPermissions.None, BlockPermissions.All);
        OnAbort(() => BlockGraph.Unlink(edge));
        return edge;
    }

    public void Commit() => _committed = true;

    public async ValueTask DisposeAsync()
    {
        if (_committed)
        {
            return;
        }
        for (int i = _undo.Count - 1; i >= 0; i--)
        {
            await _undo[i]().ConfigureAwait(false);
        }
    }
}
