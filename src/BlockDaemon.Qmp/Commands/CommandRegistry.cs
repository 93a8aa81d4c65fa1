using BlockDaemon.Qmp.Schema;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// Handlers by command name. Every command in the schema must have a handler and every handler
/// a schema entry (checked at start-up and by a test), so introspection never advertises a
/// command that answers CommandNotFound, nor hides one that works.
/// </summary>
public sealed class CommandRegistry
{
    private readonly Dictionary<string, CommandHandler> _handlers = new(StringComparer.Ordinal);

    public static CommandRegistry CreateDefault()
    {
        var registry = new CommandRegistry();
        ControlCommands.Register(registry);
        BlockCoreCommands.Register(registry);
        InternalSnapshotCommands.Register(registry);
        BlockdevCreateCommand.Register(registry);
        JobCommands.Register(registry);
        NbdServerCommands.Register(registry);
        BlockExportCommands.Register(registry);
        NbdLegacyExportCommands.Register(registry);
        TransactionCommands.Register(registry);
        BlockJobCommands.Register(registry);
        BlockStreamCommand.Register(registry);
        BlockCommitCommand.Register(registry);
        ChangeBackingFileCommand.Register(registry);
        DirtyBitmapCommands.Register(registry);
        BlockdevMirrorCommand.Register(registry);
        DriveMirrorCommand.Register(registry);
        BlockdevBackupCommand.Register(registry);
        DriveBackupCommand.Register(registry);
        ObjectCommands.Register(registry);
        PlanMergeQmpCommand.Register(registry);
        BlockStatsCommand.Register(registry);
        return registry;
    }

    public IReadOnlyCollection<string> Names => _handlers.Keys;

    public void Add(string name, CommandHandler handler) => _handlers.Add(name, handler);

    public CommandHandler? Find(string name) => _handlers.GetValueOrDefault(name);

    /// <summary>Throws when the schema and the handlers disagree.</summary>
    public void VerifyAgainst(QmpSchema schema)
    {
        var missing = schema.Commands.Select(c => c.Name).Where(n => !_handlers.ContainsKey(n)).ToList();
        var extra = _handlers.Keys.Where(n => schema.FindCommand(n) is null).ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            throw new InvalidOperationException(
                $"Schema and handlers disagree: no handler for [{string.Join(", ", missing)}], no schema for [{string.Join(", ", extra)}]");
        }
    }
}
