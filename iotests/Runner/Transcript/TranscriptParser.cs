using System.Text.Json;

namespace BlockDaemon.IoTests.Transcript;

/// <summary>
/// Turns the text of a .qmp file into steps. One step per line; blank lines and lines starting
/// with <c>#</c> are dropped. The grammar is documented in iotests/README.md.
/// </summary>
public static class TranscriptParser
{
    private static readonly Dictionary<string, StepKind> Directives = new(StringComparer.Ordinal)
    {
        ["@daemon"] = StepKind.Daemon,
        ["@daemon-fail"] = StepKind.DaemonFail,
        ["@stop"] = StepKind.Stop,
        ["@wait-exit"] = StepKind.WaitExit,
        ["@client"] = StepKind.Client,
        ["@close"] = StepKind.Close,
        ["@save"] = StepKind.Save,
        ["@send"] = StepKind.Send,
        ["@recv"] = StepKind.Recv,
        ["@recv-raw"] = StepKind.RecvRaw,
        ["@recv-eof"] = StepKind.RecvEof,
        ["@wait"] = StepKind.Wait,
        ["@require"] = StepKind.Require,
    };

    // Directives that take no text; anything after them is a typo worth reporting.
    private static readonly HashSet<StepKind> NoArgument =
        [StepKind.Stop, StepKind.WaitExit, StepKind.Close, StepKind.Recv, StepKind.RecvRaw, StepKind.RecvEof];

    // Directives whose text must not be empty.
    private static readonly HashSet<StepKind> NeedsArgument =
        [StepKind.DaemonFail, StepKind.Client, StepKind.Save, StepKind.Send, StepKind.Wait, StepKind.Require];

    public static IReadOnlyList<Step> Parse(string text)
    {
        var steps = new List<Step>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r', ' ', '\t');
            var number = i + 1;
            if (line.Length == 0 || line.TrimStart().StartsWith('#'))
            {
                continue;
            }

            steps.Add(ParseLine(line, number));
        }

        return steps;
    }

    private static Step ParseLine(string line, int number)
    {
        if (line.StartsWith('>'))
        {
            var json = line[1..].Trim();
            RequireJson(json, number);
            return new Step(StepKind.Command, json, number);
        }

        if (line.StartsWith('$'))
        {
            var command = line[1..].Trim();
            if (command.Length == 0)
            {
                throw TranscriptFormatException.AtLine(number, "'$' needs a command");
            }

            return new Step(StepKind.Shell, command, number);
        }

        if (!line.StartsWith('@'))
        {
            throw TranscriptFormatException.AtLine(number, $"cannot parse '{line}': a step starts with '>', '$', '@' or '#'");
        }

        var space = line.IndexOfAny([' ', '\t']);
        var keyword = space < 0 ? line : line[..space];
        var rest = space < 0 ? string.Empty : line[space..].Trim();
        if (!Directives.TryGetValue(keyword, out var kind))
        {
            throw TranscriptFormatException.AtLine(number, $"unknown directive '{keyword}'");
        }

        if (NoArgument.Contains(kind) && rest.Length != 0)
        {
            throw TranscriptFormatException.AtLine(number, $"'{keyword}' takes no argument");
        }

        if (NeedsArgument.Contains(kind) && rest.Length == 0)
        {
            throw TranscriptFormatException.AtLine(number, $"'{keyword}' needs an argument");
        }

        if (kind == StepKind.Save)
        {
            var (_, json) = SplitSave(rest, number);
            RequireJson(json, number);
        }

        return new Step(kind, rest, number);
    }

    /// <summary>Splits the text of <c>@save FILE {json}</c> into the file name and the command.</summary>
    public static (string File, string Json) SplitSave(string text, int line)
    {
        var space = text.IndexOfAny([' ', '\t']);
        if (space < 0)
        {
            throw TranscriptFormatException.AtLine(line, "'@save' needs a file name and a command: @save FILE {json}");
        }

        var file = text[..space];
        if (file.Contains('/', StringComparison.Ordinal) || file is "." or "..")
        {
            throw TranscriptFormatException.AtLine(line, $"'@save' file '{file}' must be a plain name inside TEST_DIR");
        }

        return (file, text[space..].Trim());
    }

    private static void RequireJson(string json, int line)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw TranscriptFormatException.AtLine(line, "a command must be a JSON object (use @send for malformed input)");
            }
        }
        catch (JsonException e)
        {
            throw TranscriptFormatException.AtLine(line, $"a command must be valid JSON (use @send for malformed input): {e.Message}");
        }
    }
}
