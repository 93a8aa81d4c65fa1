namespace BlockDaemon.CommandLine.Keyval;

/// <summary>
/// Lexical rules for keyval key fragments.
/// <code>
///   qapi-name  = [ '__' rfqdn '_' ] alpha { alnum | '-' | '_' }     (rfqdn: alnum, '-', '.')
///   index      = digit { digit }                                     (not allowed as first fragment)
/// </code>
/// The downstream prefix (<c>__com.redhat_</c>) may contain dots, so it is one fragment even
/// though dots otherwise separate fragments.
/// </summary>
internal static class QapiName
{
    /// <summary>Length of the QAPI name starting at <paramref name="start"/>, or -1 if there is none.</summary>
    public static int Measure(string text, int start)
    {
        int p = start;
        if (p < text.Length && text[p] == '_')
        {
            p++;
            if (p >= text.Length || text[p] != '_')
            {
                return -1;
            }

            p++;
            while (p < text.Length && (IsAsciiAlnum(text[p]) || text[p] is '-' or '.'))
            {
                p++;
            }

            if (p >= text.Length || text[p] != '_')
            {
                return -1;
            }

            p++;
        }

        if (p >= text.Length || !char.IsAsciiLetter(text[p]))
        {
            return -1;
        }

        p++;
        while (p < text.Length && (IsAsciiAlnum(text[p]) || text[p] is '-' or '_'))
        {
            p++;
        }

        return p - start;
    }

    /// <summary>
    /// The list index spelled by the digits at <paramref name="start"/>, capped at int.MaxValue
    /// like QEMU's key_to_index; -1 when the text does not start with a digit.
    /// <paramref name="end"/> is the position after the digits.
    /// </summary>
    public static int ToIndex(string text, int start, out int end)
    {
        end = start;
        if (start >= text.Length || !char.IsAsciiDigit(text[start]))
        {
            return -1;
        }

        long value = 0;
        while (end < text.Length && char.IsAsciiDigit(text[end]))
        {
            value = Math.Min(value * 10 + (text[end] - '0'), int.MaxValue);
            end++;
        }

        return (int)value;
    }

    /// <summary>Whether the whole of <paramref name="key"/> is a list index.</summary>
    public static bool IsIndex(string key, out int index)
    {
        index = ToIndex(key, 0, out int end);
        return index >= 0 && end == key.Length;
    }

    private static bool IsAsciiAlnum(char c) => char.IsAsciiLetterOrDigit(c);
}
