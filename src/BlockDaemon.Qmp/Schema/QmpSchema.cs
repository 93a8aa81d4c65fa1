using System.Reflection;
using System.Text.Json;

namespace BlockDaemon.Qmp.Schema;

/// <summary>
/// The protocol schema (protocol-schema/*.json, embedded in this assembly): every command, event
/// and type blockd implements. It drives argument validation, query-commands and query-qmp-schema.
/// </summary>
public sealed class QmpSchema
{
    public static readonly string[] IntegerBuiltins = ["int", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "size"];
    public static readonly string[] Builtins = [.. IntegerBuiltins, "str", "number", "bool", "null", "any"];

    private readonly Dictionary<string, SchemaDefinition> _types = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CommandDefinition> _commands = new(StringComparer.Ordinal);
    private readonly Dictionary<string, EventDefinition> _events = new(StringComparer.Ordinal);

    /// <summary>Commands and events in schema order (introspection lists them so).</summary>
    public List<SchemaDefinition> Entry { get; } = [];

    public IReadOnlyCollection<CommandDefinition> Commands => _commands.Values;

    public static QmpSchema LoadEmbedded()
    {
        var assembly = typeof(QmpSchema).Assembly;
        using var index = JsonDocument.Parse(ReadResource(assembly, "schema.json"));
        var schema = new QmpSchema();
        foreach (var module in index.RootElement.GetProperty("include").EnumerateArray())
        {
            using var doc = JsonDocument.Parse(ReadResource(assembly, module.GetString()!));
            SchemaParser.ParseModule(schema, doc.RootElement);
        }
        return schema;
    }

    public CommandDefinition? FindCommand(string name) => _commands.GetValueOrDefault(name);

    public EventDefinition? FindEvent(string name) => _events.GetValueOrDefault(name);

    public SchemaDefinition GetType(string name) =>
        _types.TryGetValue(name, out var def) ? def : throw new KeyNotFoundException($"Schema type '{name}' is not defined");

    public static bool IsBuiltin(string name) => Array.IndexOf(Builtins, name) >= 0;

    internal void Add(SchemaDefinition definition)
    {
        switch (definition)
        {
            case CommandDefinition command:
                _commands.Add(command.Name, command);
                Entry.Add(command);
                break;
            case EventDefinition ev:
                _events.Add(ev.Name, ev);
                Entry.Add(ev);
                break;
            default:
                _types.Add(definition.Name, definition);
                break;
        }
    }

    private static byte[] ReadResource(Assembly assembly, string file)
    {
        using var stream = assembly.GetManifestResourceStream("schema/" + file)
            ?? throw new InvalidOperationException($"Schema module '{file}' is not embedded");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
