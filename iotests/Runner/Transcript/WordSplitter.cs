using System.Text;

namespace BlockDaemon.IoTests.Transcript;

/// <summary>
/// Shell-like word splitting for <c>@daemon</c> arguments: whitespace separates words,
/// <c>'...'</c> is literal, <c>"..."</c> expands variables and honours <c>\"</c>, <c>\\</c> and
/// <c>\$</c>, and an unquoted backslash escapes the next character. Globs, command substitution
/// and the rest of the shell are deliberately absent.
/// </summary>
public static class WordSplitter
{
    public static IReadOnlyList<string> Split(string text, Variables variables)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }

                i++;
                continue;
            }

            inWord = true;
            switch (c)
            {
                case '\'':
                    var close = text.IndexOf('\'', i + 1);
                    if (close < 0)
                    {
                        throw new TranscriptFormatException($"unterminated single quote in '{text}'");
                    }

                    word.Append(text, i + 1, close - i - 1);
                    i = close + 1;
                    break;
                case '"':
                    i = ReadDoubleQuoted(text, i + 1, word, variables);
                    break;
                case '\\' when i + 1 < text.Length:
                    word.Append(text[i + 1]);
                    i += 2;
                    break;
                case '$' when Variables.TryReadName(text, i, out var name, out var end):
                    word.Append(variables.Lookup(name));
                    i = end;
                    break;
                default:
                    word.Append(c);
                    i++;
                    break;
            }
        }

        if (inWord)
        {
            words.Add(word.ToString());
        }

        return words;
    }

    // Returns the index just after the closing quote.
    private static int ReadDoubleQuoted(string text, int i, StringBuilder word, Variables variables)
    {
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '"')
            {
                return i + 1;
            }

            if (c == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\' or '$')
            {
                word.Append(text[i + 1]);
                i += 2;
            }
            else if (c == '$' && Variables.TryReadName(text, i, out var name, out var end))
            {
                word.Append(variables.Lookup(name));
                i = end;
            }
            else
            {
                word.Append(c);
                i++;
            }
        }

        throw new TranscriptFormatException($"unterminated double quote in '{text}'");
    }
}
