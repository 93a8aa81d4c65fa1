using System.Globalization;

namespace BlockDaemon.ImageTool.Cli;

/// <summary>Sizes on the command line (QEMU's qemu_strtosz) and in human output (size_to_str).</summary>
public static class Sizes
{
    private const string Suffixes = "bkmgtpe";

    /// <summary>What qemu-img appends to a bad size (the tool prefixes each line with its name).</summary>
    public const string SuffixHint = ". You may use k, M, G, T, P or E suffixes for\nkilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.";

    /// <summary>
    /// A size with an optional binary suffix (k, M, G, T, P, E; b for bytes). A fraction needs a
    /// suffix and is truncated to whole bytes, as QEMU does ("1.3k" is 1331). False for malformed
    /// text; <paramref name="outOfRange"/> when the value does not fit in 63 bits.
    /// </summary>
    public static bool TryParse(string text, out long value, out bool outOfRange)
    {
        value = 0;
        outOfRange = false;
        string s = text.Trim();
        int i = 0;
        ulong whole;
        bool hex = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (hex)
        {
            i = 2;
            int start = i;
            while (i < s.Length && Uri.IsHexDigit(s[i]))
            {
                i++;
            }
            if (i == start || !ulong.TryParse(s.AsSpan(start, i - start), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out whole))
            {
                outOfRange = i != start;
                return false;
            }
        }
        else
        {
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
            }
            if (i == 0)
            {
                return false;
            }
            if (!ulong.TryParse(s.AsSpan(0, i), NumberStyles.None, CultureInfo.InvariantCulture, out whole))
            {
                outOfRange = true;
                return false;
            }
        }
        double fraction = 0;
        bool hasFraction = false;
        if (!hex && i < s.Length && s[i] == '.')
        {
            int start = i;
            i++;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
            }
            fraction = double.Parse("0" + s[start..i], CultureInfo.InvariantCulture);
            hasFraction = fraction != 0;
        }
        ulong unit = 1;
        if (i < s.Length)
        {
            int index = Suffixes.IndexOf(char.ToLowerInvariant(s[i]), StringComparison.Ordinal);
            if (index < 0 || i + 1 != s.Length)
            {
                return false;
            }
            unit = 1UL << (10 * index);
            i++;
        }
        else if (hasFraction)
        {
            return false;
        }
        if (whole > long.MaxValue / unit)
        {
            outOfRange = true;
            return false;
        }
        double total = whole * (double)unit + fraction * unit;
        if (total > long.MaxValue)
        {
            outOfRange = true;
            return false;
        }
        value = (long)(whole * unit) + (long)(fraction * unit);
        return true;
    }

    /// <summary>QEMU's size_to_str: three significant digits of the largest fitting binary unit.</summary>
    public static string Human(long bytes)
    {
        string[] suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        // frexp(bytes / (1000/1024)) exponent, minus one, over ten: switch unit at 1000, not 1024.
        double scaled = bytes / (1000.0 / 1024.0);
        int exponent = scaled == 0 ? 0 : (int)Math.Floor(Math.Log2(scaled)) + 1;
        int unit = Math.Max(0, (exponent - 1) / 10);
        double value = (double)bytes / (1L << (10 * unit));
        return $"{G3(value)} {suffixes[unit]}B";
    }

    /// <summary>C's %0.3g for values below 10000.</summary>
    public static string G3(double value)
    {
        if (value == 0)
        {
            return "0";
        }
        int digitsBefore = (int)Math.Floor(Math.Log10(Math.Abs(value))) + 1;
        int decimals = Math.Max(0, 3 - digitsBefore);
        string text = Math.Round(value, decimals, MidpointRounding.ToEven).ToString("F" + decimals, CultureInfo.InvariantCulture);
        if (text.Contains('.', StringComparison.Ordinal))
        {
            text = text.TrimEnd('0').TrimEnd('.');
        }
        return text;
    }
}
