using System.Globalization;

namespace BlockDaemon.Ctl.Cli;

/// <summary>
/// The words of a helper command (commit, stream, ...): --flag, --option VALUE or --option=VALUE,
/// key=value words passed through to the QMP command, and positional words.
/// </summary>
public sealed class OptionReader
{
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public OptionReader(string command, IReadOnlyList<string> words, IEnumerable<string> flags, IEnumerable<string> valued)
    {
        var knownFlags = flags.ToHashSet(StringComparer.Ordinal);
        var knownValued = valued.ToHashSet(StringComparer.Ordinal);
        for (int i = 0; i < words.Count; i++)
        {
            string word = words[i];
            if (word.StartsWith("--", StringComparison.Ordinal) && word.Length > 2)
            {
                string name = word[2..];
                string? inline = null;
                int equals = name.IndexOf('=', StringComparison.Ordinal);
                if (equals >= 0)
                {
                    inline = name[(equals + 1)..];
                    name = name[..equals];
                }
                if (knownFlags.Contains(name) && inline is null)
                {
                    _flags.Add(name);
                }
                else if (knownValued.Contains(name))
                {
                    if (inline is null && i + 1 >= words.Count)
                    {
                        throw new UsageException($"Option '--{name}' of '{command}' needs a value");
                    }
                    _values[name] = inline ?? words[++i];
                }
                else
                {
                    throw new UsageException($"Unknown option '--{name}' for '{command}' (see blockctl {command} --help)");
                }
            }
            else if (word.Contains('=', StringComparison.Ordinal))
            {
                Extras.Add(word);
            }
            else
            {
                Positionals.Add(word);
            }
        }
    }

    public List<string> Positionals { get; } = [];

    /// <summary>key=value words, added to the QMP command's arguments.</summary>
    public List<string> Extras { get; } = [];

    public bool Has(string flag) => _flags.Contains(flag);

    public string? Value(string name) => _values.GetValueOrDefault(name);

    public long? Integer(string name)
    {
        string? text = Value(name);
        if (text is null)
        {
            return null;
        }
        return Arguments.SchemaTyping.ParseInteger(text) is { } value && value.TryGetValue(out long n) && n >= 0
            ? n
            : throw new UsageException($"Option '--{name}' expects a non-negative integer (k/M/G suffixes allowed), not '{text}'");
    }

    public double? Seconds(string name)
    {
        string? text = Value(name);
        if (text is null)
        {
            return null;
        }
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0 && double.IsFinite(s)
            ? s
            : throw new UsageException($"Option '--{name}' expects a positive number of seconds, not '{text}'");
    }
}
