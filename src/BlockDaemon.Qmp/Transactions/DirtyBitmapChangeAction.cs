using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// block-dirty-bitmap-clear, -enable, -disable and -merge: the command's checks and change in
/// prepare, keeping what abort needs to put the bitmap back exactly (its old bits, its old
/// recording state).
/// </summary>
public sealed class DirtyBitmapChangeAction : DirtyBitmapAction
{
    private readonly Func<BlockGraph, JsonObject, Action> _change;
    private readonly Func<JsonObject, IEnumerable<string>> _nodes;
    private Action? _undo;

    private DirtyBitmapChangeAction(TransactionContext tx, JsonObject data, string type,
        Func<BlockGraph, JsonObject, Action> change, Func<JsonObject, IEnumerable<string>> nodes)
        : base(tx, data, type)
    {
        _change = change;
        _nodes = nodes;
    }

    public static DirtyBitmapChangeAction Clear(TransactionContext tx, JsonObject data) =>
        new(tx, data, "block-dirty-bitmap-clear", (g, d) => DirtyBitmapCommands.ClearAction(g, d), OwnNode);

    public static DirtyBitmapChangeAction Enable(TransactionContext tx, JsonObject data) =>
        new(tx, data, "block-dirty-bitmap-enable", (g, d) => DirtyBitmapCommands.SetRecording(g, d, record: true), OwnNode);

    public static DirtyBitmapChangeAction Disable(TransactionContext tx, JsonObject data) =>
        new(tx, data, "block-dirty-bitmap-disable", (g, d) => DirtyBitmapCommands.SetRecording(g, d, record: false), OwnNode);

    /// <summary>The target's node and every node a <c>{node, name}</c> source names: all are read at the same point.</summary>
    public static DirtyBitmapChangeAction Merge(TransactionContext tx, JsonObject data) =>
        new(tx, data, "block-dirty-bitmap-merge", (g, d) => DirtyBitmapCommands.MergeAction(g, d), d =>
            OwnNode(d).Concat(d["bitmaps"]!.AsArray().OfType<JsonObject>().Select(s => s["node"]!.GetValue<string>())));

    private static IEnumerable<string> OwnNode(JsonObject data) => [data["node"]!.GetValue<string>()];

    protected override IEnumerable<string> NodeNames() => _nodes(Data);

    protected override ValueTask PrepareDrainedAsync(CancellationToken ct)
    {
        _undo = _change(Graph, Data);
        return ValueTask.CompletedTask;
    }

    public override ValueTask AbortAsync(CancellationToken ct)
    {
        _undo?.Invoke();
        _undo = null;
        return ValueTask.CompletedTask;
    }
}
