using System.Text;

namespace BlockDaemon.CommandLine.Getopt;

/// <summary>
/// Splits argv the way glibc's getopt_long does for qsd's option string <c>"-hT:V"</c>:
/// <list type="bullet">
/// <item>The leading <c>-</c> means RETURN_IN_ORDER: non-options are reported in place, never permuted.</item>
/// <item><c>--</c> ends scanning; qsd 7.2 then silently ignores every word after it.</item>
/// <item>Long options match exactly or by unique prefix (<c>--bl</c> is --blockdev), take their
/// argument after <c>=</c> or from the next word, whatever that word looks like.</item>
/// <item>Short options cluster (<c>-hV</c>); <c>-T</c> takes the rest of the word or the next word.</item>
/// </list>
/// Scanning stops at the first error, since qsd exits there in its first pass.
/// </summary>
internal static class GetoptScanner
{
    public static IReadOnlyList<GetoptEvent> Scan(IReadOnlyList<string> args, out IReadOnlyList<string> ignored)
    {
        var events = new List<GetoptEvent>();
        ignored = [];
        int index = 0;
        while (index < args.Count)
        {
            string word = args[index];
            if (word == "--")
            {
                ignored = args.Skip(index + 1).ToArray();
                break;
            }

            GetoptEvent? error = word.StartsWith("--", StringComparison.Ordinal)
                ? ScanLong(args, ref index, events)
                : word.Length > 1 && word[0] == '-'
                    ? ScanShortCluster(args, ref index, events)
                    : AddNonOption(word, ref index, events);
            if (error is not null)
            {
                events.Add(error);
                break;
            }
        }

        return events;
    }

    private static ScanErrorEvent? AddNonOption(string word, ref int index, List<GetoptEvent> events)
    {
        events.Add(new NonOptionEvent(word));
        index++;
        return null;
    }

    private static ScanErrorEvent? ScanLong(IReadOnlyList<string> args, ref int index, List<GetoptEvent> events)
    {
        string word = args[index];
        string body = word[2..];
        int equals = body.IndexOf('=', StringComparison.Ordinal);
        string name = equals < 0 ? body : body[..equals];

        LongOption? option = LongOption.Table.FirstOrDefault(o => o.Name == name);
        if (option is null)
        {
            var candidates = LongOption.Table.Where(o => o.Name.StartsWith(name, StringComparison.Ordinal)).ToList();
            if (candidates.Count == 0)
            {
                return new ScanErrorEvent($"unrecognized option '{word}'");
            }

            if (candidates.Count > 1)
            {
                var message = new StringBuilder($"option '{word}' is ambiguous; possibilities:");
                foreach (LongOption candidate in candidates)
                {
                    message.Append(" '--").Append(candidate.Name).Append('\'');
                }

                return new ScanErrorEvent(message.ToString());
            }

            option = candidates[0];
        }

        if (equals >= 0)
        {
            if (!option.TakesArgument)
            {
                return new ScanErrorEvent($"option '--{option.Name}' doesn't allow an argument");
            }

            events.Add(new OptionEvent(option.Kind, body[(equals + 1)..], word));
            index++;
            return null;
        }

        if (!option.TakesArgument)
        {
            events.Add(new OptionEvent(option.Kind, null, word));
            index++;
            return null;
        }

        if (index + 1 >= args.Count)
        {
            return new ScanErrorEvent($"option '--{option.Name}' requires an argument");
        }

        events.Add(new OptionEvent(option.Kind, args[index + 1], word + " " + args[index + 1]));
        index += 2;
        return null;
    }

    private static ScanErrorEvent? ScanShortCluster(IReadOnlyList<string> args, ref int index, List<GetoptEvent> events)
    {
        string word = args[index];
        for (int position = 1; position < word.Length; position++)
        {
            char letter = word[position];
            switch (letter)
            {
                case 'h':
                    events.Add(new OptionEvent(OptionKind.Help, null, word));
                    break;
                case 'V':
                    events.Add(new OptionEvent(OptionKind.Version, null, word));
                    break;
                case 'T' when position + 1 < word.Length:
                    events.Add(new OptionEvent(OptionKind.Trace, word[(position + 1)..], word));
                    index++;
                    return null;
                case 'T' when index + 1 < args.Count:
                    events.Add(new OptionEvent(OptionKind.Trace, args[index + 1], word + " " + args[index + 1]));
                    index += 2;
                    return null;
                case 'T':
                    return new ScanErrorEvent("option requires an argument -- 'T'");
                default:
                    return new ScanErrorEvent($"invalid option -- '{letter}'");
            }
        }

        index++;
        return null;
    }
}
