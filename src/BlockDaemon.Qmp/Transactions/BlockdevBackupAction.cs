using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// The blockdev-backup action: prepare checks everything, freezes the bitmap, inserts the filter
/// and creates the job (joining the transaction's job group when completion-mode is grouped);
/// commit starts it, paused until clean, so every job of the transaction starts from the same
/// point in time; abort ends the job that never ran and takes the filter out again.
/// </summary>
public sealed class BlockdevBackupAction(TransactionContext transaction, JsonObject data) : ITransactionAction
{
    private BackupStart? _start;

    public async ValueTask PrepareAsync(CancellationToken ct)
    {
        var context = transaction.Command;
        var bs = BlockJobCommands.FindDevice(context, data["device"]!.GetValue<string>());
        var target = BlockJobCommands.FindDevice(context, data["target"]!.GetValue<string>());
        _start = await BackupStart.PrepareAsync(context, data, bs, target).ConfigureAwait(false);
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
