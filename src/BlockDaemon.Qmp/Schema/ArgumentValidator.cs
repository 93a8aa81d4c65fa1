using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Wire;

namespace BlockDaemon.Qmp.Schema;

/// <summary>
/// Checks a value against a schema type the way QEMU's QObject input visitor does, with its
/// messages ("Parameter 'file.filename' is missing", "Invalid parameter type for 'size',
/// expected: integer", ...), and returns a copy with proper JSON types. In keyval mode (values
/// from the command line, all strings) scalars are converted by their schema type.
/// </summary>
public sealed class ArgumentValidator
{
    private readonly QmpSchema _schema;
    private readonly bool _keyval;

    public ArgumentValidator(QmpSchema schema, bool keyval)
    {
        _schema = schema;
        _keyval = keyval;
    }

    /// <summary>Validates a command's arguments object (null = no arguments) against its argument type.</summary>
    public JsonObject ValidateArguments(string? argType, JsonObject? arguments)
    {
        arguments ??= [];
        if (argType is null)
        {
            RejectExtra(arguments, [], "");
            return [];
        }
        return (JsonObject)VisitNamed(argType, arguments, "", "")!;
    }

    private JsonNode? Visit(TypeRef type, JsonNode? value, string path, string name)
    {
        if (!type.IsArray)
        {
            return VisitNamed(type.Name, value, path, name);
        }
        if (value is not JsonArray array)
        {
            throw TypeError(path, "array");
        }
        var result = new JsonArray();
        for (int i = 0; i < array.Count; i++)
        {
            string elementPath = $"{path}[{i}]";
            // QEMU visits list elements without a name: messages that use the bare name say 'null'.
            result.Add(VisitNamed(type.Name, array[i], elementPath, "null"));
        }
        return result;
    }

    private JsonNode? VisitNamed(string typeName, JsonNode? value, string path, string name)
    {
        if (QmpSchema.IsBuiltin(typeName))
        {
            return BuiltinConverter.Convert(typeName, value, path, name, _keyval);
        }
        switch (_schema.GetType(typeName))
        {
            case EnumDefinition e:
                string text = value is JsonValue v && v.GetValueKind() == JsonValueKind.String
                    ? v.GetValue<string>()
                    : throw TypeError(path, "string");
                if (e.Values.All(x => x.Name != text))
                {
                    throw new QmpException(QmpErrorClass.GenericError, $"Parameter '{name}' does not accept value '{text}'");
                }
                return JsonValue.Create(text);
            case StructDefinition s:
                return VisitObject(s.Members, null, value, path);
            case UnionDefinition u:
                return VisitObject(u.BaseMembers, u, value, path);
            case AlternateDefinition a:
                return VisitAlternate(a, value, path, name);
            default:
                throw new InvalidOperationException($"Cannot validate schema type {typeName}");
        }
    }

    private JsonObject VisitObject(IReadOnlyList<SchemaMember> members, UnionDefinition? union, JsonNode? value, string path)
    {
        if (value is not JsonObject input)
        {
            throw TypeError(path, "object");
        }
        var result = new JsonObject();
        var all = new List<SchemaMember>(members);
        VisitMembers(members, input, result, path);
        if (union is not null)
        {
            string tag = result[union.Discriminator]!.GetValue<string>();
            var variant = union.Variants.FirstOrDefault(v => v.Key == tag).Value;
            if (variant is not null)
            {
                var variantMembers = ((StructDefinition)_schema.GetType(variant)).Members;
                VisitMembers(variantMembers, input, result, path);
                all.AddRange(variantMembers);
            }
        }
        RejectExtra(input, all, path);
        return result;
    }

    private void VisitMembers(IReadOnlyList<SchemaMember> members, JsonObject input, JsonObject result, string path)
    {
        foreach (var member in members)
        {
            string memberPath = path.Length == 0 ? member.Name : path + "." + member.Name;
            if (!input.TryGetPropertyValue(member.Name, out var memberValue))
            {
                if (!member.Optional)
                {
                    throw new QmpException(QmpErrorClass.GenericError, $"Parameter '{memberPath}' is missing");
                }
                continue;
            }
            result[member.Name] = Visit(member.Type, memberValue, memberPath, member.Name);
        }
    }

    // QEMU names the first leftover member in its hash-table order.
    private static void RejectExtra(JsonObject input, IReadOnlyList<SchemaMember> members, string path)
    {
        var extra = input.Select(p => p.Key).Where(k => members.All(m => m.Name != k)).ToArray();
        if (extra.Length == 0)
        {
            return;
        }
        string first = extra[QDictOrder.Order(extra)[0]];
        throw new QmpException(QmpErrorClass.GenericError, $"Parameter '{(path.Length == 0 ? first : path + "." + first)}' is unexpected");
    }

    private JsonNode? VisitAlternate(AlternateDefinition alternate, JsonNode? value, string path, string name)
    {
        foreach (var (_, branch) in alternate.Branches)
        {
            if (Matches(branch, value))
            {
                return Visit(branch, value, path, name);
            }
        }
        // QEMU's generated alternate visitor names the bare member, not its path.
        throw new QmpException(QmpErrorClass.GenericError,
            $"Invalid parameter type for '{(name.Length == 0 ? "null" : name)}', expected: {alternate.Name}");
    }

    private bool Matches(TypeRef branch, JsonNode? value)
    {
        var kind = value switch
        {
            null => JsonValueKind.Null,
            JsonObject => JsonValueKind.Object,
            JsonArray => JsonValueKind.Array,
            JsonValue v => v.GetValueKind(),
            _ => JsonValueKind.Undefined,
        };
        if (branch.IsArray)
        {
            return kind == JsonValueKind.Array;
        }
        string type = branch.Name;
        bool stringLike = type == "str" || (!QmpSchema.IsBuiltin(type) && _schema.GetType(type) is EnumDefinition);
        bool objectLike = !QmpSchema.IsBuiltin(type) && _schema.GetType(type) is StructDefinition or UnionDefinition;
        return kind switch
        {
            JsonValueKind.Object => objectLike,
            JsonValueKind.String => stringLike,
            JsonValueKind.Number => type == "number" || Array.IndexOf(QmpSchema.IntegerBuiltins, type) >= 0,
            JsonValueKind.True or JsonValueKind.False => type == "bool",
            JsonValueKind.Null => type == "null",
            _ => false,
        };
    }

    internal static QmpException TypeError(string path, string expected) =>
        new(QmpErrorClass.GenericError, $"Invalid parameter type for '{(path.Length == 0 ? "null" : path)}', expected: {expected}");
}
