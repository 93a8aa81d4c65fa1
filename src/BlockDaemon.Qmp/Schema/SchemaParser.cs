using System.Text.Json;

namespace BlockDaemon.Qmp.Schema;

/// <summary>Reads one module of our JSON rendering of the QAPI language (protocol-schema/README.md).</summary>
internal static class SchemaParser
{
    public static void ParseModule(QmpSchema schema, JsonElement module)
    {
        foreach (var def in module.GetProperty("definitions").EnumerateArray())
        {
            schema.Add(ParseDefinition(schema, def));
        }
    }

    private static SchemaDefinition ParseDefinition(QmpSchema schema, JsonElement def)
    {
        var features = Strings(def, "features");
        string doc = def.TryGetProperty("doc", out var d) ? d.GetString() ?? "" : "";
        if (def.TryGetProperty("enum", out var name))
        {
            var values = def.GetProperty("data").EnumerateArray().Select(v => v.ValueKind == JsonValueKind.String
                ? new EnumValue(v.GetString()!, [])
                : new EnumValue(v.GetProperty("name").GetString()!, Strings(v, "features"))).ToList();
            return new EnumDefinition(name.GetString()!, values, features, doc);
        }
        if (def.TryGetProperty("struct", out name))
        {
            var members = new List<SchemaMember>();
            if (def.TryGetProperty("base", out var baseName))
            {
                members.AddRange(((StructDefinition)schema.GetType(baseName.GetString()!)).Members);
            }
            members.AddRange(Members(def.GetProperty("data")));
            return new StructDefinition(name.GetString()!, members, features, doc);
        }
        if (def.TryGetProperty("union", out name))
        {
            var baseElement = def.GetProperty("base");
            var baseMembers = baseElement.ValueKind == JsonValueKind.String
                ? ((StructDefinition)schema.GetType(baseElement.GetString()!)).Members
                : Members(baseElement);
            var variants = def.GetProperty("data").EnumerateObject()
                .Select(p => new KeyValuePair<string, string>(p.Name, p.Value.GetString()!)).ToList();
            return new UnionDefinition(name.GetString()!, baseMembers, def.GetProperty("discriminator").GetString()!, variants, features, doc);
        }
        if (def.TryGetProperty("alternate", out name))
        {
            var branches = def.GetProperty("data").EnumerateObject()
                .Select(p => new KeyValuePair<string, TypeRef>(p.Name, Type(p.Value))).ToList();
            return new AlternateDefinition(name.GetString()!, branches, features, doc);
        }
        if (def.TryGetProperty("command", out name))
        {
            string? argType = ArgType(schema, def, "q_obj_" + name.GetString() + "-arg");
            TypeRef? returns = def.TryGetProperty("returns", out var r) ? Type(r) : null;
            bool oob = def.TryGetProperty("allow-oob", out var o) && o.GetBoolean();
            return new CommandDefinition(name.GetString()!, argType, returns, oob, features, doc);
        }
        if (def.TryGetProperty("event", out name))
        {
            return new EventDefinition(name.GetString()!, ArgType(schema, def, "q_obj_" + name.GetString() + "-arg"), features, doc);
        }
        throw new InvalidOperationException("Schema definition without a kind: " + def);
    }

    // Inline data becomes an implicit struct registered under QEMU's implicit name.
    private static string? ArgType(QmpSchema schema, JsonElement def, string implicitName)
    {
        if (!def.TryGetProperty("data", out var data))
        {
            return null;
        }
        if (data.ValueKind == JsonValueKind.String)
        {
            return data.GetString();
        }
        var members = Members(data);
        if (members.Count == 0)
        {
            return null;
        }
        schema.Add(new StructDefinition(implicitName, members, [], ""));
        return implicitName;
    }

    private static List<SchemaMember> Members(JsonElement data) =>
        data.EnumerateObject().Select(p =>
        {
            bool optional = p.Name.StartsWith('*');
            string memberName = optional ? p.Name[1..] : p.Name;
            if (p.Value.ValueKind == JsonValueKind.Object)
            {
                return new SchemaMember(memberName, Type(p.Value.GetProperty("type")), optional, Strings(p.Value, "features"));
            }
            return new SchemaMember(memberName, Type(p.Value), optional, []);
        }).ToList();

    private static TypeRef Type(JsonElement element) => element.ValueKind == JsonValueKind.Array
        ? new TypeRef(element[0].GetString()!, true)
        : new TypeRef(element.GetString()!, false);

    private static List<string> Strings(JsonElement element, string property) =>
        element.TryGetProperty(property, out var list) ? list.EnumerateArray().Select(f => f.GetString()!).ToList() : [];
}
