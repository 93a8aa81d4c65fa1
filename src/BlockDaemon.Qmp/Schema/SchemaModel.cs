namespace BlockDaemon.Qmp.Schema;

/// <summary>A use of a type: a name (builtin or defined) or an array of one.</summary>
public sealed record TypeRef(string Name, bool IsArray)
{
    public override string ToString() => IsArray ? $"[{Name}]" : Name;
}

public sealed record SchemaMember(string Name, TypeRef Type, bool Optional, IReadOnlyList<string> Features);

public abstract record SchemaDefinition(string Name, IReadOnlyList<string> Features, string Doc);

public sealed record EnumValue(string Name, IReadOnlyList<string> Features);

public sealed record EnumDefinition(string Name, IReadOnlyList<EnumValue> Values, IReadOnlyList<string> Features, string Doc)
    : SchemaDefinition(Name, Features, Doc);

/// <summary>A struct, or the implicit argument object of a command/event. Members include the base's, base first.</summary>
public sealed record StructDefinition(string Name, IReadOnlyList<SchemaMember> Members, IReadOnlyList<string> Features, string Doc)
    : SchemaDefinition(Name, Features, Doc);

/// <summary>A flat union: base members, a discriminator among them, and extra members per value.</summary>
public sealed record UnionDefinition(
    string Name,
    IReadOnlyList<SchemaMember> BaseMembers,
    string Discriminator,
    IReadOnlyList<KeyValuePair<string, string>> Variants,
    IReadOnlyList<string> Features,
    string Doc) : SchemaDefinition(Name, Features, Doc);

public sealed record AlternateDefinition(string Name, IReadOnlyList<KeyValuePair<string, TypeRef>> Branches, IReadOnlyList<string> Features, string Doc)
    : SchemaDefinition(Name, Features, Doc);

/// <summary>A command; <see cref="ArgType"/> names a struct or (boxed) union, or is null for none.</summary>
public sealed record CommandDefinition(string Name, string? ArgType, TypeRef? Returns, bool AllowOob, IReadOnlyList<string> Features, string Doc)
    : SchemaDefinition(Name, Features, Doc);

public sealed record EventDefinition(string Name, string? ArgType, IReadOnlyList<string> Features, string Doc)
    : SchemaDefinition(Name, Features, Doc);
