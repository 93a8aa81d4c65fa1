using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// Runs a transaction all or nothing, on the control loop (qmp_transaction): prepare each
/// action in order; if one fails, abort every action begun (newest first), else commit all;
/// clean all in any case. The first failure is the command's error.
/// </summary>
public static class TransactionRunner
{
    public static async ValueTask RunAsync(CommandContext command, IEnumerable<(string Type, JsonObject Data)> actions,
        CompletionMode completionMode, CancellationToken ct = default)
    {
        // qmp_transaction begins with bdrv_drain_all: every job that holds a node pauses and
        // resumes once, whatever the actions are (even none).
        await command.Graph.DrainAllJobsAsync().ConfigureAwait(false);
        var tx = new TransactionContext(command, completionMode);
        await RunAsync(actions.Select(a => TransactionActions.Create(tx, a.Type, a.Data)), ct).ConfigureAwait(false);
    }

    /// <summary>Runs actions that are made one at a time, each just before its prepare.</summary>
    public static async ValueTask RunAsync(IEnumerable<ITransactionAction> actions, CancellationToken ct = default)
    {
        var begun = new List<ITransactionAction>();
        try
        {
            try
            {
                foreach (var action in actions)
                {
                    begun.Add(action);
                    await action.PrepareAsync(ct).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is QmpException or BlockException)
            {
                for (int i = begun.Count - 1; i >= 0; i--)
                {
                    await begun[i].AbortAsync(ct).ConfigureAwait(false);
                }
                if (e is BlockException block)
                {
                    throw QmpErrors.From(block);
                }
                throw;
            }
            foreach (var action in begun)
            {
                await action.CommitAsync(ct).ConfigureAwait(false);
            }
        }
        finally
        {
            foreach (var action in begun)
            {
                await action.CleanAsync(ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A command that is a transaction of one action (blockdev-snapshot-sync and the like), as QEMU runs them.</summary>
    public static ValueTask RunOneAsync(CommandContext command, string type, JsonObject data) =>
        RunAsync(command, [(type, data)], CompletionMode.Individual);
}
