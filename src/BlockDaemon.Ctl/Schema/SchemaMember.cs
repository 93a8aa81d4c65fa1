namespace BlockDaemon.Ctl.Schema;

/// <summary>One member of an introspected object type: its name, its (masked) type name, and whether it must be given.</summary>
public sealed record SchemaMember(string Name, string Type, bool Required);
