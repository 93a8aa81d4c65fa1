using System.Text.Json.Nodes;

namespace BlockDaemon.Ctl.Schema;

/// <summary>
/// What query-qmp-schema tells a client: entities by their (masked) name. Commands and events
/// keep their real names; types have opaque numeric names, reached only through a command's
/// arg-type, so the daemon's answer is the only way to learn the shape of a command's arguments.
/// </summary>
public sealed class QmpSchema
{
    private readonly Dictionary<string, JsonObject> _entities = new(StringComparer.Ordinal);

    public QmpSchema(JsonArray introspection)
    {
        foreach (var node in introspection)
        {
            if (node is JsonObject entity && Text(entity["name"]) is string name)
            {
                _entities[name] = entity;
            }
        }
        Commands = _entities.Values.Where(e => Text(e["meta-type"]) == "command").Select(e => Text(e["name"])!).Order(StringComparer.Ordinal).ToArray();
        Events = _entities.Values.Where(e => Text(e["meta-type"]) == "event").Select(e => Text(e["name"])!).Order(StringComparer.Ordinal).ToArray();
    }

    public IReadOnlyList<string> Commands { get; }

    public IReadOnlyList<string> Events { get; }

    public JsonObject? Entity(string name) => _entities.GetValueOrDefault(name);

    public string? MetaType(string typeName) => Text(Entity(typeName)?["meta-type"]);

    /// <summary>The argument type of a command, or null when the daemon does not have it.</summary>
    public string? ArgumentType(string command)
    {
        var entity = Entity(command);
        return entity is not null && Text(entity["meta-type"]) == "command" ? Text(entity["arg-type"]) : null;
    }

    /// <summary>Members of an object type (the base's included), without any variant's.</summary>
    public IReadOnlyList<SchemaMember> Members(string objectType)
    {
        if (Entity(objectType)?["members"] is not JsonArray members)
        {
            return [];
        }
        var result = new List<SchemaMember>();
        foreach (var member in members.OfType<JsonObject>())
        {
            if (Text(member["name"]) is string name && Text(member["type"]) is string type)
            {
                result.Add(new SchemaMember(name, type, !member.ContainsKey("default")));
            }
        }
        return result;
    }

    /// <summary>Members of every variant of a union (for completion, where the tag is not known yet).</summary>
    public IEnumerable<SchemaMember> VariantMembers(string objectType) =>
        Variants(objectType).SelectMany(v => Members(v.Type));

    /// <summary>The discriminator member of a union, or null for a plain struct.</summary>
    public string? Tag(string objectType) => Text(Entity(objectType)?["tag"]);

    public IEnumerable<(string Case, string Type)> Variants(string objectType)
    {
        if (Entity(objectType)?["variants"] is not JsonArray variants)
        {
            yield break;
        }
        foreach (var variant in variants.OfType<JsonObject>())
        {
            if (Text(variant["case"]) is string @case && Text(variant["type"]) is string type)
            {
                yield return (@case, type);
            }
        }
    }

    /// <summary>The element type of an array type.</summary>
    public string? ElementType(string arrayType) => Text(Entity(arrayType)?["element-type"]);

    /// <summary>The JSON type of a builtin: string, int, number, boolean, null or value.</summary>
    public string? JsonType(string builtinType) => Text(Entity(builtinType)?["json-type"]);

    /// <summary>The branch types of an alternate.</summary>
    public IReadOnlyList<string> AlternateTypes(string alternateType) =>
        Entity(alternateType)?["members"] is JsonArray members
            ? members.OfType<JsonObject>().Select(m => Text(m["type"])).OfType<string>().ToArray()
            : [];

    /// <summary>The values of an enum type.</summary>
    public IReadOnlyList<string> EnumValues(string enumType)
    {
        var entity = Entity(enumType);
        // 7.2 lists "values"; newer QEMU also has "members" with features.
        if (entity?["values"] is JsonArray values)
        {
            return values.Select(Text).OfType<string>().ToArray();
        }
        return entity?["members"] is JsonArray members
            ? members.OfType<JsonObject>().Select(m => Text(m["name"])).OfType<string>().ToArray()
            : [];
    }

    /// <summary>The member of an object type (or of the variant selected by <paramref name="tagValue"/>) called <paramref name="name"/>.</summary>
    public SchemaMember? FindMember(string objectType, string name, string? tagValue)
    {
        foreach (var member in Members(objectType))
        {
            if (member.Name == name)
            {
                return member;
            }
        }
        foreach (var (@case, type) in Variants(objectType))
        {
            if (tagValue is null || @case == tagValue)
            {
                foreach (var member in Members(type))
                {
                    if (member.Name == name)
                    {
                        return member;
                    }
                }
            }
        }
        return null;
    }

    internal static string? Text(JsonNode? node) =>
        node is JsonValue value && value.TryGetValue(out string? text) ? text : null;
}
