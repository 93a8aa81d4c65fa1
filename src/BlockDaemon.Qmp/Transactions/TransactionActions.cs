using System.Text.Json.Nodes;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// The action types a transaction knows, by their TransactionActionKind name. A new action
/// (dirty bitmaps, backups) is one class implementing <see cref="ITransactionAction"/> plus one
/// line here, and its variant in protocol-schema/transaction.json.
/// </summary>
public static class TransactionActions
{
    private static readonly Dictionary<string, Func<TransactionContext, JsonObject, ITransactionAction>> Factories = new(StringComparer.Ordinal)
    {
        ["abort"] = (tx, data) => new AbortAction(),
        ["block-dirty-bitmap-add"] = (tx, data) => new DirtyBitmapAddAction(tx, data),
        ["block-dirty-bitmap-remove"] = (tx, data) => new DirtyBitmapRemoveAction(tx, data),
        ["block-dirty-bitmap-clear"] = (tx, data) => DirtyBitmapChangeAction.Clear(tx, data),
        ["block-dirty-bitmap-enable"] = (tx, data) => DirtyBitmapChangeAction.Enable(tx, data),
        ["block-dirty-bitmap-disable"] = (tx, data) => DirtyBitmapChangeAction.Disable(tx, data),
        ["block-dirty-bitmap-merge"] = (tx, data) => DirtyBitmapChangeAction.Merge(tx, data),
        ["blockdev-snapshot"] = (tx, data) => ExternalSnapshotAction.FromBlockdevSnapshot(tx, data),
        ["blockdev-snapshot-sync"] = (tx, data) => ExternalSnapshotAction.FromBlockdevSnapshotSync(tx, data),
        ["blockdev-snapshot-internal-sync"] = (tx, data) => new InternalSnapshotAction(tx, data),
        ["blockdev-backup"] = (tx, data) => new BlockdevBackupAction(tx, data),
        ["drive-backup"] = (tx, data) => new DriveBackupAction(tx, data),
    };

    public static IEnumerable<string> Types => Factories.Keys;

    /// <summary>An action of a type the schema accepted (the walker has checked the type and its data).</summary>
    public static ITransactionAction Create(TransactionContext tx, string type, JsonObject data) =>
        Factories.TryGetValue(type, out var factory)
            ? factory(tx, data)
            : throw new InvalidOperationException($"Transaction action '{type}' is in the schema but has no implementation");
}
