using System.Text.Json.Nodes;

namespace BlockDaemon.CommandLine.Keyval;

/// <summary>
/// Turns a <see cref="KeyvalTree"/> into JSON, replacing every object whose keys are all list
/// indexes by an array. Indexes may come in any order but must not leave gaps; mixing indexes
/// and names under one key is an error. Children are converted (and fail) before their parent.
/// </summary>
internal static class KeyvalListifier
{
    /// <param name="tree">The object to convert.</param>
    /// <param name="prefix">Its dotted path including a trailing '.', or "" at the root; used in errors.</param>
    public static JsonNode Listify(KeyvalTree tree, string prefix)
    {
        bool hasIndex = false;
        bool hasMember = false;
        var members = new List<KeyValuePair<string, JsonNode>>(tree.Count);
        foreach ((string key, object value) in tree)
        {
            if (QapiName.IsIndex(key, out _))
            {
                hasIndex = true;
            }
            else
            {
                hasMember = true;
            }

            JsonNode node = value is KeyvalTree child
                ? Listify(child, prefix + key + ".")
                : JsonValue.Create((string)value);
            members.Add(new(key, node));
        }

        if (hasIndex && hasMember)
        {
            OptionSyntaxException.Throw($"Parameters '{prefix}*' used inconsistently");
        }

        if (!hasIndex)
        {
            var result = new JsonObject();
            foreach ((string key, JsonNode node) in members)
            {
                result[key] = node;
            }

            return result;
        }

        return ToArray(members, prefix);
    }

    private static JsonArray ToArray(List<KeyValuePair<string, JsonNode>> members, string prefix)
    {
        // Like QEMU: slots for Count elements; an index at or beyond that cannot be gap-free, so
        // it is dropped here and the gap below reports the first missing index.
        var slots = new JsonNode?[members.Count];
        int maxIndex = -1;
        foreach ((string key, JsonNode node) in members)
        {
            QapiName.IsIndex(key, out int index);
            maxIndex = Math.Max(maxIndex, index);
            if (index < slots.Length)
            {
                slots[index] = node;
            }
        }

        int length = (int)Math.Min(slots.Length + 1L, maxIndex + 1L);
        var array = new JsonArray();
        for (int i = 0; i < length; i++)
        {
            if (i >= slots.Length || slots[i] is null)
            {
                OptionSyntaxException.Throw($"Parameter '{prefix}{i}' missing");
            }

            array.Add(slots[i]);
        }

        return array;
    }
}
