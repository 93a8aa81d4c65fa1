using System.Text.Json.Nodes;

namespace BlockDaemon.Qmp.Schema;

/// <summary>
/// Builds the query-qmp-schema reply the way QEMU's qapi-introspect does: commands and events in
/// schema order, then every type they use in order of first use, with non-builtin type names
/// masked as numbers (so clients rely only on command, event and member names).
/// </summary>
public static class Introspection
{
    private const string EmptyType = "q_empty";

    public static JsonArray Build(QmpSchema schema)
    {
        var state = new State(schema);
        var result = new JsonArray();
        foreach (var entry in schema.Entry)
        {
            var entity = new JsonObject { ["name"] = entry.Name };
            if (entry is CommandDefinition command)
            {
                entity["meta-type"] = "command";
                entity["arg-type"] = state.Use(command.ArgType ?? EmptyType, false);
                entity["ret-type"] = command.Returns is { } r ? state.Use(r.Name, r.IsArray) : state.Use(EmptyType, false);
                if (command.AllowOob)
                {
                    entity["allow-oob"] = true;
                }
            }
            else if (entry is EventDefinition ev)
            {
                entity["meta-type"] = "event";
                entity["arg-type"] = state.Use(ev.ArgType ?? EmptyType, false);
            }
            AddFeatures(entity, entry.Features);
            result.Add((JsonNode)entity);
        }
        DescribeWorkList(state, result);
        // QEMU always describes the JSON builtins, used or not, after everything in use.
        foreach (var builtin in new[] { "str", "int", "number", "bool", "null", "any" })
        {
            state.Use(builtin, false);
        }
        DescribeWorkList(state, result);
        return result;
    }

    private static void DescribeWorkList(State state, JsonArray result)
    {
        for (; state.Described < state.WorkList.Count; state.Described++)
        {
            result.Add((JsonNode)state.Describe(state.WorkList[state.Described]));
        }
    }

    private static void AddFeatures(JsonObject entity, IReadOnlyList<string> features)
    {
        if (features.Count > 0)
        {
            entity["features"] = new JsonArray(features.Select(f => (JsonNode)f).ToArray());
        }
    }

    private sealed class State(QmpSchema schema)
    {
        private readonly Dictionary<string, string> _masked = new(StringComparer.Ordinal);
        private readonly HashSet<string> _queued = new(StringComparer.Ordinal);

        /// <summary>Types to describe: (unmasked name, is array).</summary>
        public List<(string Name, bool IsArray)> WorkList { get; } = [];

        /// <summary>How many entries of the work list are already described.</summary>
        public int Described { get; set; }

        public string Use(string name, bool isArray)
        {
            if (Array.IndexOf(QmpSchema.IntegerBuiltins, name) >= 0)
            {
                name = "int";
            }
            if (isArray)
            {
                if (_queued.Add("[" + name + "]"))
                {
                    WorkList.Add((name, true));
                }
                return "[" + Use(name, false) + "]";
            }
            if (_queued.Add(name))
            {
                WorkList.Add((name, false));
            }
            return Mask(name);
        }

        private string Mask(string name)
        {
            if (QmpSchema.IsBuiltin(name))
            {
                return name;
            }
            if (!_masked.TryGetValue(name, out var masked))
            {
                masked = _masked.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
                _masked.Add(name, masked);
            }
            return masked;
        }

        public JsonObject Describe((string Name, bool IsArray) type)
        {
            if (type.IsArray)
            {
                string element = Use(type.Name, false);
                return new JsonObject { ["name"] = "[" + element + "]", ["meta-type"] = "array", ["element-type"] = element };
            }
            string name = type.Name;
            if (QmpSchema.IsBuiltin(name))
            {
                return new JsonObject { ["name"] = name, ["meta-type"] = "builtin", ["json-type"] = JsonType(name) };
            }
            string masked = Mask(name);
            if (name == EmptyType)
            {
                return new JsonObject { ["name"] = masked, ["meta-type"] = "object", ["members"] = new JsonArray() };
            }
            var entity = new JsonObject { ["name"] = masked };
            var def = schema.GetType(name);
            switch (def)
            {
                case EnumDefinition e:
                    entity["meta-type"] = "enum";
                    entity["members"] = new JsonArray(e.Values.Select(v =>
                    {
                        var member = new JsonObject { ["name"] = v.Name };
                        AddFeatures(member, v.Features);
                        return (JsonNode)member;
                    }).ToArray());
                    entity["values"] = new JsonArray(e.Values.Select(v => (JsonNode)v.Name).ToArray());
                    break;
                case StructDefinition s:
                    entity["meta-type"] = "object";
                    entity["members"] = Members(s.Members);
                    break;
                case UnionDefinition u:
                    entity["meta-type"] = "object";
                    entity["members"] = Members(u.BaseMembers);
                    entity["tag"] = u.Discriminator;
                    entity["variants"] = Variants(u);
                    break;
                case AlternateDefinition a:
                    entity["meta-type"] = "alternate";
                    entity["members"] = new JsonArray(a.Branches.Select(b =>
                        (JsonNode)new JsonObject { ["type"] = Use(b.Value.Name, b.Value.IsArray) }).ToArray());
                    break;
            }
            AddFeatures(entity, def.Features);
            return entity;
        }

        private JsonArray Members(IReadOnlyList<SchemaMember> members) => new(members.Select(m =>
        {
            var member = new JsonObject { ["name"] = m.Name, ["type"] = Use(m.Type.Name, m.Type.IsArray) };
            if (m.Optional)
            {
                member["default"] = null;
            }
            AddFeatures(member, m.Features);
            return (JsonNode)member;
        }).ToArray());

        private JsonArray Variants(UnionDefinition union)
        {
            var variants = new JsonArray();
            foreach (var (value, type) in union.Variants)
            {
                variants.Add((JsonNode)new JsonObject { ["case"] = value, ["type"] = Use(type, false) });
            }
            var tag = union.BaseMembers.First(m => m.Name == union.Discriminator);
            var tagEnum = (EnumDefinition)schema.GetType(tag.Type.Name);
            foreach (var value in tagEnum.Values.Where(v => union.Variants.All(x => x.Key != v.Name)))
            {
                variants.Add((JsonNode)new JsonObject { ["case"] = value.Name, ["type"] = Use(EmptyType, false) });
            }
            return variants;
        }

        private static string JsonType(string builtin) => builtin switch
        {
            "str" => "string",
            "number" => "number",
            "bool" => "boolean",
            "null" => "null",
            "any" => "value",
            _ => "int",
        };
    }
}
