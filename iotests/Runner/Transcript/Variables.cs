using System.Text;

namespace BlockDaemon.IoTests.Transcript;

/// <summary>
/// The variables a transcript may use in step text (<c>$TEST_DIR</c>, <c>$SOCK</c>, ...), with
/// <c>$NAME</c> and <c>${NAME}</c> forms. An unknown name is an error rather than an empty string,
/// so a typo cannot silently change what a test does.
/// </summary>
public sealed class Variables
{
    private readonly IReadOnlyDictionary<string, string> _values;

    public Variables(IReadOnlyDictionary<string, string> values) => _values = values;

    /// <summary>Expands every variable in <paramref name="text"/>; a <c>$</c> not followed by a name stays as it is.</summary>
    public string Expand(string text)
    {
        var builder = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] == '$' && TryReadName(text, i, out var name, out var end))
            {
                builder.Append(Lookup(name));
                i = end;
            }
            else
            {
                builder.Append(text[i]);
                i++;
            }
        }

        return builder.ToString();
    }

    /// <summary>
    /// Reads a variable reference starting at the <c>$</c> at <paramref name="start"/>.
    /// <paramref name="end"/> is the index just after it.
    /// </summary>
    public static bool TryReadName(string text, int start, out string name, out int end)
    {
        name = string.Empty;
        end = start;
        var i = start + 1;
        if (i < text.Length && text[i] == '{')
        {
            var close = text.IndexOf('}', i);
            if (close < 0)
            {
                return false;
            }

            name = text[(i + 1)..close];
            end = close + 1;
            return name.Length > 0;
        }

        var first = i;
        while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_'))
        {
            i++;
        }

        if (i == first || char.IsAsciiDigit(text[first]))
        {
            return false;
        }

        name = text[first..i];
        end = i;
        return true;
    }

    public string Lookup(string name) =>
        _values.TryGetValue(name, out var value)
            ? value
            : throw new TranscriptFormatException($"unknown variable '${name}' (known: {string.Join(", ", _values.Keys.Select(k => "$" + k))})");
}
