using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>The blockdev-backup action: source and target are existing nodes.</summary>
internal sealed class BlockdevBackupAction(TransactionContext transaction, JsonObject data) : BackupActionBase(transaction)
{
    protected override ValueTask<BackupStart> SetUpAsync(CommandContext context)
    {
        var bs = BlockJobCommands.FindDevice(context, data["device"]!.GetValue<string>());
        var target = BlockJobCommands.FindDevice(context, data["target"]!.GetValue<string>());
        return BackupStart.PrepareAsync(context, data, bs, target);
    }
}
