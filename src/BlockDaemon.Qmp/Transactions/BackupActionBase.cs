using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// What the two backup actions share once their job is set up: joining the transaction's job
/// group when completion-mode is grouped, starting on commit (paused until clean, so every job
/// of the transaction starts from the same point in time), and on abort ending the job that
/// never ran and taking its filter out again.
/// </summary>
internal abstract class BackupActionBase(TransactionContext transaction) : ITransactionAction
{
    private BackupStart? _start;

    /// <summary>Checks everything, freezes the bitmap, inserts the filter and creates the job.</summary>
    protected abstract ValueTask<BackupStart> SetUpAsync(CommandContext context);

    public async ValueTask PrepareAsync(CancellationToken ct)
    {
        _start = await SetUpAsync(transaction.Command).ConfigureAwait(false);
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
