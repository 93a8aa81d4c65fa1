namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// One action of a <c>transaction</c> (QEMU's TransactionActionDrv). The runner calls, on the
/// control loop: <see cref="PrepareAsync"/> for each action in order; then either
/// <see cref="CommitAsync"/> for all of them (every prepare succeeded) or
/// <see cref="AbortAsync"/> for all that began preparing, newest first, including the one
/// whose prepare failed; and finally <see cref="CleanAsync"/> for all of them, in order.
/// </summary>
/// <remarks>
/// Prepare does every check and all the work that can fail, in a way abort can undo, and
/// drains the nodes it touches until clean: the whole transaction is one point in time.
/// Commit must not fail. Abort must undo whatever part of prepare ran. Clean releases what
/// prepare holds (drains) whatever the outcome.
/// </remarks>
public interface ITransactionAction
{
    ValueTask PrepareAsync(CancellationToken ct);

    ValueTask CommitAsync(CancellationToken ct);

    ValueTask AbortAsync(CancellationToken ct);

    ValueTask CleanAsync(CancellationToken ct);
}
