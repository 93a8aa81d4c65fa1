using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// The drive-backup action: prepare creates (or opens) the target and sets the backup up as the
/// command does. An aborted action's target node closes with its job (the file it created
/// stays, as in qsd).
/// </summary>
internal sealed class DriveBackupAction(TransactionContext transaction, JsonObject data) : BackupActionBase(transaction)
{
    protected override ValueTask<BackupStart> SetUpAsync(CommandContext context) => DriveBackupCommand.PrepareAsync(context, data);
}
