using BlockDaemon.Ctl.Schema;

namespace BlockDaemon.Ctl.Shell;

/// <summary>
/// Tab completion from the daemon's query-qmp-schema: the first word completes to a command (or a
/// shell word: help, exit, events), later words to the command's argument names — dotted ones
/// into nested objects, a union's variant members once its tag is typed — and after '=' to the
/// values of an enum or boolean.
/// </summary>
public sealed class Completer(QmpSchema schema)
{
    public static readonly string[] ShellWords = ["help", "exit", "events"];

    /// <summary>Where the word being completed starts in <paramref name="line"/> and the words it may become.</summary>
    public (int Start, IReadOnlyList<string> Candidates) Complete(string line)
    {
        int start = line.LastIndexOfAny([' ', '\t']) + 1;
        string word = line[start..];
        var before = line[..start].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (before.Length == 0)
        {
            return (start, Filter(schema.Commands.Concat(ShellWords), word));
        }
        if (before[0] == "help" && before.Length == 1)
        {
            return (start, Filter(schema.Commands, word));
        }
        string? argType = schema.ArgumentType(before[0]);
        if (argType is null)
        {
            return (start, []);
        }
        var earlier = before.Skip(1).Select(w => w.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);

        int equals = word.IndexOf('=', StringComparison.Ordinal);
        if (equals >= 0)
        {
            string key = word[..equals];
            string? type = TypeAt(argType, key.Split('.'), earlier, "");
            return (start + equals + 1, Filter(Values(type), word[(equals + 1)..]));
        }

        int dot = word.LastIndexOf('.');
        string prefix = dot < 0 ? "" : word[..(dot + 1)];
        string? objectType = dot < 0 ? argType : ObjectOf(TypeAt(argType, word[..dot].Split('.'), earlier, ""));
        if (objectType is null)
        {
            return (start, []);
        }
        string path = dot < 0 ? "" : word[..dot] + ".";
        var names = MembersOf(objectType, earlier, path)
            .Where(m => !earlier.ContainsKey(path + m.Name))
            .Select(m => prefix + m.Name + (IsStructured(m.Type) ? "" : "="));
        return (start, Filter(names, word));
    }

    /// <summary>The type of the member at <paramref name="keys"/>, descending through objects, alternates' object branches and arrays (by index).</summary>
    private string? TypeAt(string type, IReadOnlyList<string> keys, Dictionary<string, string> earlier, string path)
    {
        string? current = type;
        foreach (string key in keys)
        {
            if (current is null)
            {
                return null;
            }
            if (schema.MetaType(current) == "array")
            {
                current = schema.ElementType(current);
                path += key + ".";
                continue;
            }
            string? objectType = ObjectOf(current);
            if (objectType is null)
            {
                return null;
            }
            current = MembersOf(objectType, earlier, path).FirstOrDefault(m => m.Name == key)?.Type;
            path += key + ".";
        }
        return current;
    }

    /// <summary>Members of an object type, and of the variant its tag (if already typed) selects, else of every variant.</summary>
    private IEnumerable<SchemaMember> MembersOf(string objectType, Dictionary<string, string> earlier, string path)
    {
        var members = schema.Members(objectType).ToList();
        string? tag = schema.Tag(objectType);
        if (tag is not null && earlier.TryGetValue(path + tag, out string? tagValue))
        {
            foreach (var (@case, type) in schema.Variants(objectType))
            {
                if (@case == tagValue)
                {
                    members.AddRange(schema.Members(type));
                }
            }
        }
        else
        {
            members.AddRange(schema.VariantMembers(objectType));
        }
        return members.DistinctBy(m => m.Name);
    }

    /// <summary>The object type behind <paramref name="type"/>: itself, or an alternate's object branch.</summary>
    private string? ObjectOf(string? type) => type is null ? null : schema.MetaType(type) switch
    {
        "object" => type,
        "alternate" => schema.AlternateTypes(type).FirstOrDefault(t => schema.MetaType(t) == "object"),
        _ => null,
    };

    private bool IsStructured(string type) => schema.MetaType(type) is "object" or "array";

    private IEnumerable<string> Values(string? type)
    {
        if (type is null)
        {
            return [];
        }
        return schema.MetaType(type) switch
        {
            "enum" => schema.EnumValues(type),
            "builtin" when schema.JsonType(type) == "boolean" => ["true", "false"],
            "alternate" => schema.AlternateTypes(type).SelectMany(Values),
            _ => [],
        };
    }

    private static string[] Filter(IEnumerable<string> candidates, string prefix) =>
        candidates.Where(c => c.StartsWith(prefix, StringComparison.Ordinal)).Distinct().Order(StringComparer.Ordinal).ToArray();

    /// <summary>The longest prefix all candidates share.</summary>
    public static string CommonPrefix(IReadOnlyList<string> candidates)
    {
        if (candidates.Count == 0)
        {
            return "";
        }
        string prefix = candidates[0];
        foreach (string candidate in candidates.Skip(1))
        {
            int n = 0;
            while (n < prefix.Length && n < candidate.Length && prefix[n] == candidate[n])
            {
                n++;
            }
            prefix = prefix[..n];
        }
        return prefix;
    }
}
