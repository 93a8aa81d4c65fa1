using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// block-dirty-bitmap-add: the command's checks and creation in prepare (a persistent bitmap is
/// in the image from then on); abort removes it again, from the image too.
/// </summary>
public sealed class DirtyBitmapAddAction(TransactionContext tx, JsonObject data)
    : DirtyBitmapAction(tx, data, "block-dirty-bitmap-add")
{
    private Func<Task>? _undo;

    protected override IEnumerable<string> NodeNames() => [Data["node"]!.GetValue<string>()];

    protected override async ValueTask PrepareDrainedAsync(CancellationToken ct) =>
        _undo = await DirtyBitmapCommands.AddAsync(Graph, Data).ConfigureAwait(false);

    public override async ValueTask AbortAsync(CancellationToken ct)
    {
        if (_undo is { } undo)
        {
            _undo = null;
            await undo().ConfigureAwait(false);
        }
    }
}
