using System.Globalization;
using BlockDaemon.Ctl.Cli;
using BlockDaemon.QemuJson;

namespace BlockDaemon.Ctl.Arguments;

/// <summary>
/// Turns command-line words into an argument tree:
/// <code>
///   word  = key '=' text          text typed later by the schema
///         | key ':=' json         a JSON value used as written
///   key   = fragment { '.' fragment }   a.b=1 is {"a": {"b": 1}}; a.0=x a.1=y is {"a": ["x", "y"]}
/// </code>
/// Values are whole words, so they may hold commas, '=' and spaces (unlike qsd's keyval syntax).
/// </summary>
public static class DottedArguments
{
    /// <exception cref="UsageException">A word is not key=value, a key is empty, given twice, or both a value and an object.</exception>
    public static ObjectArgument Parse(IEnumerable<string> words)
    {
        var root = new Dictionary<string, object>(StringComparer.Ordinal);
        var order = new Dictionary<Dictionary<string, object>, List<string>>(ReferenceEqualityComparer.Instance) { [root] = [] };
        foreach (string word in words)
        {
            int equals = word.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new UsageException($"Expected key=value (or key:=JSON), got '{word}'");
            }
            bool json = word[equals - 1] == ':';
            string key = word[..(json ? equals - 1 : equals)];
            string text = word[(equals + 1)..];
            ArgumentNode leaf;
            if (json)
            {
                try
                {
                    leaf = new JsonArgument(QemuJsonReader.Read(text));
                }
                catch (QemuJsonException e)
                {
                    throw new UsageException($"The value of '{key}' is not valid JSON: {e.Message}", e);
                }
            }
            else
            {
                leaf = new TextArgument(text);
            }
            Insert(root, order, key, leaf);
        }
        return (ObjectArgument)Build(root, order, isRoot: true);
    }

    private static void Insert(Dictionary<string, object> root, Dictionary<Dictionary<string, object>, List<string>> order, string key, ArgumentNode leaf)
    {
        string[] fragments = key.Split('.');
        if (fragments.Any(f => f.Length == 0))
        {
            throw new UsageException($"Invalid argument name '{key}': empty name between dots");
        }
        var current = root;
        for (int i = 0; i < fragments.Length - 1; i++)
        {
            string prefix = string.Join('.', fragments.Take(i + 1));
            if (!current.TryGetValue(fragments[i], out object? next))
            {
                var child = new Dictionary<string, object>(StringComparer.Ordinal);
                current[fragments[i]] = child;
                order[current].Add(fragments[i]);
                order[child] = [];
                current = child;
            }
            else if (next is Dictionary<string, object> existing)
            {
                current = existing;
            }
            else
            {
                throw new UsageException($"Argument '{prefix}' is given both as a value and as an object ('{key}')");
            }
        }
        string last = fragments[^1];
        if (current.TryGetValue(last, out object? previous))
        {
            throw new UsageException(previous is Dictionary<string, object>
                ? $"Argument '{key}' is given both as a value and as an object"
                : $"Argument '{key}' is given twice");
        }
        current[last] = leaf;
        order[current].Add(last);
    }

    private static ArgumentNode Build(Dictionary<string, object> node, Dictionary<Dictionary<string, object>, List<string>> order, bool isRoot = false)
    {
        var keys = order[node];
        ArgumentNode Child(string key) => node[key] is Dictionary<string, object> dict ? Build(dict, order) : (ArgumentNode)node[key];

        // As QEMU's keyval does: an object whose keys are exactly 0..n-1 is a list.
        if (!isRoot && node.Count > 0 && keys.All(IsIndex))
        {
            var indexes = keys.Select(k => int.Parse(k, CultureInfo.InvariantCulture)).ToHashSet();
            if (Enumerable.Range(0, node.Count).All(indexes.Contains))
            {
                return new ListArgument(Enumerable.Range(0, node.Count).Select(i => Child(i.ToString(CultureInfo.InvariantCulture))).ToList());
            }
        }
        return new ObjectArgument(keys.Select(k => new KeyValuePair<string, ArgumentNode>(k, Child(k))).ToList());
    }

    private static bool IsIndex(string key) =>
        key.Length is > 0 and < 10 && key.All(char.IsAsciiDigit) && (key == "0" || key[0] != '0');
}
