namespace BlockDaemon.Qmp.Transactions;

/// <summary>The abort action: fails in prepare, so that the transaction undoes every other action.</summary>
public sealed class AbortAction : ITransactionAction
{
    public ValueTask PrepareAsync(CancellationToken ct) =>
        throw QmpException.Generic("Transaction aborted using Abort action");

    public ValueTask CommitAsync(CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask AbortAsync(CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask CleanAsync(CancellationToken ct) => ValueTask.CompletedTask;
}
