using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// The drive-backup action: prepare creates (or opens) the target and sets the backup up as the
/// command does; commit, abort and clean as for <see cref="BlockdevBackupAction"/>. An aborted
/// action's target node closes with its job (the file it created stays, as in qsd).
/// </summary>
public sealed class DriveBackupAction(TransactionContext transaction, JsonObject data) : ITransactionAction
{
    private BackupStart? _start;

    public async ValueTask PrepareAsync(CancellationToken ct)
    {
        _start = await DriveBackupCommand.PrepareAsync(transaction.Command, data).ConfigureAwait(false);
        if (transaction.CompletionMode == CompletionMode.Grouped)
        {
            transaction.JobTransaction.Add(_start.Job);
        }
    }

    public ValueTask CommitAsync(CancellationToken ct) => _start!.StartAsync();

    public async ValueTask AbortAsync(CancellationToken ct)
    {
        if (_start is null)
        {
            return;
        }
        _start.Job.Transaction?.Remove(_start.Job);
        await _start.AbortAsync().ConfigureAwait(false);
    }

    public ValueTask CleanAsync(CancellationToken ct)
    {
        _start?.Clean();
        return ValueTask.CompletedTask;
    }
}
