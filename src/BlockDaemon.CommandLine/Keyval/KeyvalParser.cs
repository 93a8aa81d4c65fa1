using System.Text;
using System.Text.Json.Nodes;

namespace BlockDaemon.CommandLine.Keyval;

/// <summary>
/// QEMU's keyval syntax (util/keyval.c), which qsd uses for --blockdev, --export, --monitor,
/// --nbd-server and --object:
/// <code>
///   key-vals     = [ key-val-1st { ',' key-val } [ ',' ] ]
///   key-val-1st  = val-no-key | key-val            (val-no-key only with an implied key)
///   key-val      = key '=' val | 'help' | '?'
///   key          = key-fragment { '.' key-fragment }
///   val          = { any char but ',' | ',,' }
///   val-no-key   = any chars but '=' and ','       (no ',,' escape here)
/// </code>
/// Dotted keys denote nested objects; objects whose keys are all decimal indexes become arrays
/// (see <see cref="KeyvalListifier"/>). Every leaf is a string. A repeated key keeps its first
/// position and takes the last value. Fragments are at most 127 characters.
/// </summary>
internal static class KeyvalParser
{
    private const int MaxFragmentLength = 127;

    /// <param name="text">The option argument.</param>
    /// <param name="impliedKey">Key the first element denotes when it has no '=' (e.g. "driver"), or null.</param>
    /// <param name="helpAllowed">
    /// Whether "help"/"?" elements may request help (--object); otherwise they are rejected with
    /// "Help is not available for this option" once the whole argument has parsed.
    /// </param>
    /// <param name="help">Set when a help element was present.</param>
    public static JsonObject Parse(string text, string? impliedKey, bool helpAllowed, out bool help)
    {
        var root = new KeyvalTree();
        help = false;
        int position = 0;
        while (position < text.Length)
        {
            position = ParseOne(root, text, position, impliedKey, ref help);
            impliedKey = null;
        }

        if (help && !helpAllowed)
        {
            OptionSyntaxException.Throw("Help is not available for this option");
        }

        return (JsonObject)KeyvalListifier.Listify(root, "");
    }

    /// <summary>Parses one element starting at <paramref name="start"/>; returns where the next begins.</summary>
    private static int ParseOne(KeyvalTree root, string text, int start, string? impliedKey, ref bool help)
    {
        int keyLength = IndexOfAnyOrEnd(text, start, '=', ',') - start;
        int keyEnd = start + keyLength;
        bool hasEquals = keyEnd < text.Length && text[keyEnd] == '=';
        string key = text.Substring(start, keyLength);
        string? impliedValue = null;

        if (keyLength > 0 && !hasEquals)
        {
            if (key is "help" or "?")
            {
                help = true;
                return SkipComma(text, keyEnd);
            }

            if (impliedKey is not null)
            {
                impliedValue = key;
                key = impliedKey;
            }
        }

        (KeyvalTree parent, string leafName) = WalkKey(root, key);

        int next;
        string value;
        if (impliedValue is not null)
        {
            value = impliedValue;
            next = SkipComma(text, keyEnd);
        }
        else
        {
            if (!hasEquals)
            {
                OptionSyntaxException.Throw($"Expected '=' after parameter '{key}'");
            }

            value = ReadValue(text, keyEnd + 1, out next);
        }

        if (parent.TryGetValue(leafName, out object? old) && old is KeyvalTree)
        {
            OptionSyntaxException.Throw($"Parameters '{key}.*' used inconsistently");
        }

        parent[leafName] = value;
        return next;
    }

    /// <summary>
    /// Validates the fragments of <paramref name="key"/> and creates the objects on its path.
    /// Returns the object that holds the leaf and the leaf's name.
    /// </summary>
    private static (KeyvalTree Parent, string Leaf) WalkKey(KeyvalTree root, string key)
    {
        KeyvalTree current = root;
        string? previous = null;
        int fragmentStart = 0;
        while (true)
        {
            int length;
            if (previous is not null && QapiName.ToIndex(key, fragmentStart, out int digitsEnd) >= 0)
            {
                length = digitsEnd - fragmentStart;
            }
            else
            {
                length = Math.Max(QapiName.Measure(key, fragmentStart), 0);
            }

            int fragmentEnd = fragmentStart + length;
            if (length == 0 || (fragmentEnd < key.Length && key[fragmentEnd] != '.'))
            {
                OptionSyntaxException.Throw($"Invalid parameter '{key}'");
            }

            if (length > MaxFragmentLength)
            {
                bool isFragment = previous is not null || fragmentEnd != key.Length;
                OptionSyntaxException.Throw(
                    $"Parameter{(isFragment ? " fragment" : "")} '{key.Substring(fragmentStart, length)}' is too long");
            }

            if (previous is not null)
            {
                current = Descend(current, previous, key[..(fragmentStart - 1)]);
            }

            previous = key.Substring(fragmentStart, length);
            if (fragmentEnd == key.Length)
            {
                return (current, previous);
            }

            fragmentStart = fragmentEnd + 1;
        }
    }

    private static KeyvalTree Descend(KeyvalTree current, string name, string pathSoFar)
    {
        if (!current.TryGetValue(name, out object? existing))
        {
            var child = new KeyvalTree();
            current[name] = child;
            return child;
        }

        if (existing is KeyvalTree tree)
        {
            return tree;
        }

        OptionSyntaxException.Throw($"Parameters '{pathSoFar}.*' used inconsistently");
        return null;
    }

    private static string ReadValue(string text, int start, out int next)
    {
        var value = new StringBuilder();
        int p = start;
        while (p < text.Length)
        {
            if (text[p] == ',')
            {
                p++;
                if (p >= text.Length || text[p] != ',')
                {
                    break;
                }
            }

            value.Append(text[p]);
            p++;
        }

        next = p;
        return value.ToString();
    }

    private static int SkipComma(string text, int position) =>
        position < text.Length && text[position] == ',' ? position + 1 : position;

    private static int IndexOfAnyOrEnd(string text, int start, char first, char second)
    {
        int found = text.IndexOfAny([first, second], start);
        return found < 0 ? text.Length : found;
    }
}
