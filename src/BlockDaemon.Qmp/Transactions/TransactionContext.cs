using BlockDaemon.Core.Graph;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>What the actions of one transaction share.</summary>
public sealed class TransactionContext(CommandContext command, CompletionMode completionMode)
{
    public CommandContext Command { get; } = command;

    public BlockGraph Graph => Command.Graph;

    public CompletionMode CompletionMode { get; } = completionMode;

    /// <summary>The group every job of a grouped transaction joins (created on first use).</summary>
    public Core.Jobs.JobTransaction JobTransaction => _jobTransaction ??= new Core.Jobs.JobTransaction();

    private Core.Jobs.JobTransaction? _jobTransaction;

    /// <summary>
    /// QEMU's action_check_completion_mode, called first by every action that starts no job:
    /// such an action cannot take part in a grouped completion.
    /// </summary>
    public void RequireIndividualCompletion(string actionType)
    {
        if (CompletionMode != CompletionMode.Individual)
        {
            throw QmpException.Generic(
                $"Action '{actionType}' does not support Transaction property completion-mode = {CompletionMode.ToString().ToLowerInvariant()}");
        }
    }
}
