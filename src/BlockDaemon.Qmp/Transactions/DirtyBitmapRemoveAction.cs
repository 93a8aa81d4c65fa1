using System.Text.Json.Nodes;
using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Graph;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// block-dirty-bitmap-remove: prepare checks and makes the bitmap busy (so later actions of the
/// same transaction refuse it, as in qsd); commit removes it; abort only makes it free again.
/// </summary>
/// <remarks>
/// qsd takes a persistent bitmap out of the image in prepare and, on abort, writes it back only
/// when the image closes, so a crash in between loses it. Here the image keeps it until commit:
/// an aborted transaction leaves the image exactly as it was.
/// </remarks>
public sealed class DirtyBitmapRemoveAction(TransactionContext tx, JsonObject data)
    : DirtyBitmapAction(tx, data, "block-dirty-bitmap-remove")
{
    private BlockNode? _node;
    private DirtyBitmap? _bitmap;

    protected override IEnumerable<string> NodeNames() => [Data["node"]!.GetValue<string>()];

    protected override ValueTask PrepareDrainedAsync(CancellationToken ct)
    {
        var (node, bitmap) = DirtyBitmapCommands.CheckRemove(Graph, Data);
        bitmap.AddBusyUser();
        _node = node;
        _bitmap = bitmap;
        return ValueTask.CompletedTask;
    }

    public override async ValueTask CommitAsync(CancellationToken ct)
    {
        if (_bitmap is not { } bitmap)
        {
            return;
        }
        bitmap.RemoveBusyUser();
        _bitmap = null;
        try
        {
            await DirtyBitmapCommands.RemoveCheckedAsync(_node!, bitmap).ConfigureAwait(false);
        }
        catch (QmpException)
        {
            // The image could not drop it (an I/O error): it stays on the node, recording and
            // stored, rather than staying in the image unrecorded where the next open would
            // trust bits that missed writes.
        }
    }

    public override ValueTask AbortAsync(CancellationToken ct)
    {
        _bitmap?.RemoveBusyUser();
        _bitmap = null;
        return ValueTask.CompletedTask;
    }
}
