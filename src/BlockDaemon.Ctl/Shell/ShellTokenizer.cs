using System.Text;
using BlockDaemon.Ctl.Cli;

namespace BlockDaemon.Ctl.Shell;

/// <summary>
/// Splits a shell line into words as a POSIX shell would for simple cases: blanks separate,
/// '...' keeps everything literally, "..." keeps blanks and honours \" and \\, a backslash outside
/// quotes escapes the next character. So file.filename="/a b/c.qcow2" and '{"a": 1}' are one word.
/// </summary>
public static class ShellTokenizer
{
    /// <exception cref="UsageException">A quote is not closed.</exception>
    public static List<string> Split(string line)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        bool inWord = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                }
                continue;
            }
            inWord = true;
            if (c == '\'')
            {
                int end = line.IndexOf('\'', i + 1);
                if (end < 0)
                {
                    throw new UsageException("Unterminated ' quote");
                }
                current.Append(line, i + 1, end - i - 1);
                i = end;
            }
            else if (c == '"')
            {
                i++;
                while (i < line.Length && line[i] != '"')
                {
                    if (line[i] == '\\' && i + 1 < line.Length && line[i + 1] is '"' or '\\')
                    {
                        i++;
                    }
                    current.Append(line[i]);
                    i++;
                }
                if (i >= line.Length)
                {
                    throw new UsageException("Unterminated \" quote");
                }
            }
            else if (c == '\\' && i + 1 < line.Length)
            {
                current.Append(line[++i]);
            }
            else
            {
                current.Append(c);
            }
        }
        if (inWord)
        {
            words.Add(current.ToString());
        }
        return words;
    }
}
