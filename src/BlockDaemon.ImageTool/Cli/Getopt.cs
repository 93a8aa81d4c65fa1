namespace BlockDaemon.ImageTool.Cli;

/// <summary>One option a subcommand accepts: its short letter (or none) and long name (or none).</summary>
public sealed record OptionSpec(char? Short, string? Long, bool TakesArgument, string Key);

/// <summary>
/// glibc getopt_long in its default (permuting) mode, as qemu-img runs it with a leading ':'
/// in the option string: options and operands may be mixed, "--" ends the options, and errors
/// are reported in qemu-img's words rather than getopt's.
/// </summary>
public sealed class Getopt
{
    private readonly List<(string Key, string? Value)> _options = [];

    private Getopt(List<string> operands) => Operands = operands;

    /// <summary>Words that are not options, in order.</summary>
    public IReadOnlyList<string> Operands { get; }

    public IReadOnlyList<(string Key, string? Value)> Options => _options;

    public bool Has(string key) => _options.Any(o => o.Key == key);

    /// <summary>The last value given for <paramref name="key"/> (qemu-img keeps the last).</summary>
    public string? Last(string key) => _options.LastOrDefault(o => o.Key == key).Value;

    public IEnumerable<string> All(string key) => _options.Where(o => o.Key == key).Select(o => o.Value!);

    public static Getopt Parse(IReadOnlyList<string> args, IReadOnlyList<OptionSpec> specs)
    {
        var operands = new List<string>();
        var result = new Getopt(operands);
        for (int i = 0; i < args.Count; i++)
        {
            string word = args[i];
            if (word == "--")
            {
                operands.AddRange(args.Skip(i + 1));
                break;
            }
            if (word.StartsWith("--", StringComparison.Ordinal))
            {
                string body = word[2..];
                int eq = body.IndexOf('=', StringComparison.Ordinal);
                string name = eq < 0 ? body : body[..eq];
                var spec = specs.FirstOrDefault(s => s.Long == name);
                if (spec is null)
                {
                    var candidates = specs.Where(s => s.Long is not null && s.Long.StartsWith(name, StringComparison.Ordinal)).ToList();
                    if (candidates.Count != 1)
                    {
                        throw ToolException.UsageError($"unrecognized option '{word}'");
                    }
                    spec = candidates[0];
                }
                if (!spec.TakesArgument)
                {
                    if (eq >= 0)
                    {
                        throw ToolException.UsageError($"unrecognized option '{word}'");
                    }
                    result._options.Add((spec.Key, null));
                }
                else if (eq >= 0)
                {
                    result._options.Add((spec.Key, body[(eq + 1)..]));
                }
                else if (i + 1 < args.Count)
                {
                    result._options.Add((spec.Key, args[++i]));
                }
                else
                {
                    throw ToolException.UsageError($"missing argument for option '{word}'");
                }
                continue;
            }
            if (word.Length < 2 || word[0] != '-')
            {
                operands.Add(word);
                continue;
            }
            for (int p = 1; p < word.Length; p++)
            {
                char letter = word[p];
                var spec = specs.FirstOrDefault(s => s.Short == letter)
                    ?? throw ToolException.UsageError($"unrecognized option '{word}'");
                if (!spec.TakesArgument)
                {
                    result._options.Add((spec.Key, null));
                    continue;
                }
                if (p + 1 < word.Length)
                {
                    result._options.Add((spec.Key, word[(p + 1)..]));
                }
                else if (i + 1 < args.Count)
                {
                    result._options.Add((spec.Key, args[++i]));
                }
                else
                {
                    throw ToolException.UsageError($"missing argument for option '{word}'");
                }
                break;
            }
        }
        return result;
    }
}
