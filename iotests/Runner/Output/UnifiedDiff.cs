using System.Globalization;
using System.Text;

namespace BlockDaemon.IoTests.Output;

/// <summary>
/// A small line diff in unified format (3 lines of context). Transcripts are a few hundred lines
/// at most, so the quadratic longest-common-subsequence table is cheap and keeps this obvious.
/// </summary>
public static class UnifiedDiff
{
    private const int Context = 3;

    /// <summary>Returns the diff from <paramref name="expected"/> to <paramref name="actual"/>, or "" when equal.</summary>
    public static string Create(string expected, string actual, string expectedName, string actualName)
    {
        var a = SplitLines(expected);
        var b = SplitLines(actual);
        var edits = Edits(a, b);
        if (edits.TrueForAll(e => e.Op == ' '))
        {
            return string.Empty;
        }

        var output = new StringBuilder();
        output.Append("--- ").Append(expectedName).Append('\n');
        output.Append("+++ ").Append(actualName).Append('\n');
        foreach (var (start, end) in Hunks(edits))
        {
            AppendHunk(output, edits, start, end);
        }

        return output.ToString();
    }

    private static string[] SplitLines(string text)
    {
        if (text.Length == 0)
        {
            return [];
        }

        var lines = text.Split('\n');
        return text.EndsWith('\n') ? lines[..^1] : lines;
    }

    private readonly record struct Edit(char Op, string Text, int LineA, int LineB);

    private static List<Edit> Edits(string[] a, string[] b)
    {
        // lcs[i, j] = length of the longest common subsequence of a[i..] and b[j..].
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (var i = a.Length - 1; i >= 0; i--)
        {
            for (var j = b.Length - 1; j >= 0; j--)
            {
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }

        var edits = new List<Edit>();
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                edits.Add(new Edit(' ', a[x], x++, y++));
            }
            else if (x < a.Length && (y == b.Length || lcs[x + 1, y] >= lcs[x, y + 1]))
            {
                // Deletions first, as diff -u prints them.
                edits.Add(new Edit('-', a[x], x++, y));
            }
            else
            {
                edits.Add(new Edit('+', b[y], x, y++));
            }
        }

        return edits;
    }

    // Ranges [start, end) of the edit list that form hunks: changes plus context, merged when close.
    private static List<(int Start, int End)> Hunks(List<Edit> edits)
    {
        var hunks = new List<(int Start, int End)>();
        for (var i = 0; i < edits.Count; i++)
        {
            if (edits[i].Op == ' ')
            {
                continue;
            }

            var start = Math.Max(0, i - Context);
            var end = Math.Min(edits.Count, i + 1 + Context);
            if (hunks.Count > 0 && start <= hunks[^1].End)
            {
                hunks[^1] = (hunks[^1].Start, end);
            }
            else
            {
                hunks.Add((start, end));
            }
        }

        return hunks;
    }

    private static void AppendHunk(StringBuilder output, List<Edit> edits, int start, int end)
    {
        var countA = 0;
        var countB = 0;
        for (var i = start; i < end; i++)
        {
            countA += edits[i].Op == '+' ? 0 : 1;
            countB += edits[i].Op == '-' ? 0 : 1;
        }

        var first = edits[start];
        output.Append(CultureInfo.InvariantCulture, $"@@ -{first.LineA + (countA == 0 ? 0 : 1)},{countA} +{first.LineB + (countB == 0 ? 0 : 1)},{countB} @@\n");
        for (var i = start; i < end; i++)
        {
            output.Append(edits[i].Op).Append(edits[i].Text).Append('\n');
        }
    }
}
