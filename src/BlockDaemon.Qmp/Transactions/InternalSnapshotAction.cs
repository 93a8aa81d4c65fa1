using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// blockdev-snapshot-internal-sync (QEMU's internal_snapshot_*): prepare checks in qsd's order
/// and takes the snapshot with the root node drained; abort deletes the snapshot it took;
/// clean ends the drain.
/// </summary>
public sealed class InternalSnapshotAction(TransactionContext tx, JsonObject data) : ITransactionAction
{
    private BlockNode? _root;
    private DrainedSection? _rootDrain;
    private BlockNode? _target;
    private IInternalSnapshots? _snapshots;
    private ImageSnapshot? _created;

    public async ValueTask PrepareAsync(CancellationToken ct)
    {
        tx.RequireIndividualCompletion("blockdev-snapshot-internal-sync");
        string device = data["device"]!.GetValue<string>();
        string name = data["name"]!.GetValue<string>();
        var root = RootNodeLookup.Find(tx.Command, device);
        _rootDrain = await root.Graph.DrainedBeginAsync(root, ct).ConfigureAwait(false);
        _root = root;
        ExternalSnapshotAction.CheckNotBlocked(root);
        if (root.ReadOnly)
        {
            throw QmpException.Generic($"Device '{device}' is read only");
        }
        var (target, snapshots) = InternalSnapshotCommands.SnapshotTarget(root);
        if (snapshots is null)
        {
            throw QmpException.Generic($"Block format '{root.DriverName}' used by device '{device}' does not support internal snapshots");
        }
        if (name.Length == 0)
        {
            throw QmpException.Generic("Name is empty");
        }
        // The duplicate check sees the whole name; the snapshot gets the truncated one, as in qsd.
        if (new SnapshotSelector(null, name).IndexIn(InternalSnapshotCommands.List(snapshots), s => s.Id, s => s.Name) >= 0)
        {
            throw QmpException.Generic($"Snapshot with name '{name}' already exists on device '{device}'");
        }
        var request = NewSnapshot.Now(InternalSnapshotCommands.TruncateName(name), TimeProvider.System);
        try
        {
            _created = await target.RunDrainedAsync(c => snapshots.CreateSnapshotAsync(request, c), ct).ConfigureAwait(false);
        }
        catch (BlockException e)
        {
            throw QmpException.Generic($"Failed to create snapshot '{name}' on device '{device}': {QmpErrors.Reason(e)}");
        }
        _target = target;
        _snapshots = snapshots;
    }

    public ValueTask CommitAsync(CancellationToken ct) => ValueTask.CompletedTask;

    public async ValueTask AbortAsync(CancellationToken ct)
    {
        if (_created is not { } created)
        {
            return;
        }
        _created = null;
        try
        {
            await _target!.RunDrainedAsync(c => _snapshots!.DeleteSnapshotAsync(new SnapshotSelector(created.Id, created.Name), c), ct).ConfigureAwait(false);
        }
        catch (BlockException)
        {
            // qsd only reports this on its stderr; the transaction's own error is what the client gets.
        }
    }

    public ValueTask CleanAsync(CancellationToken ct)
    {
        _rootDrain?.End();
        _rootDrain = null;
        _root = null;
        return ValueTask.CompletedTask;
    }
}
