using System.Globalization;

namespace BlockDaemon.CommandLine.QemuOpts;

/// <summary>Converts QemuOpts option strings to typed values, with qsd's error messages.</summary>
internal static class QemuOptValue
{
    /// <summary>QAPI's boolean spellings: on/yes/true/y and off/no/false/n.</summary>
    public static bool ParseBool(string name, string value) => value switch
    {
        "on" or "yes" or "true" or "y" => true,
        "off" or "no" or "false" or "n" => false,
        _ => throw new OptionSyntaxException($"Parameter '{name}' expects 'on' or 'off'"),
    };

    /// <summary>
    /// An unsigned number as C's strtoull with base 0 reads it (leading blanks, optional sign,
    /// 0x hex, leading-0 octal), and the whole string must be consumed. A minus sign wraps around
    /// modulo 2^64, as in qsd 7.2 (so reconnect=-1 is accepted).
    /// </summary>
    public static ulong ParseNumber(string name, string value)
    {
        if (!TryParseUnsigned(value, 0, out ulong number, out int end, out bool overflow) || end != value.Length)
        {
            if (overflow && end == value.Length)
            {
                throw new OptionSyntaxException($"Value '{value}' is too large for parameter '{name}'");
            }

            throw new OptionSyntaxException($"Parameter '{name}' expects a number");
        }

        return number;
    }

    /// <summary>
    /// A size: decimal (or 0x hex) bytes with an optional B/K/M/G/T/P/E suffix (powers of 1024);
    /// a decimal fraction is allowed only together with a suffix larger than B.
    /// </summary>
    public static ulong ParseSize(string name, string value)
    {
        const string hint = "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.";
        SizeResult result = TryParseSize(value, out ulong size);
        return result switch
        {
            SizeResult.Ok => size,
            SizeResult.OutOfRange => throw new OptionSyntaxException($"Value '{value}' is out of range for parameter '{name}'"),
            _ => throw new OptionSyntaxException($"Parameter '{name}' expects a non-negative number below 2^64", hint),
        };
    }

    private enum SizeResult
    {
        Ok,
        Invalid,
        OutOfRange,
    }

    private static SizeResult TryParseSize(string value, out ulong size)
    {
        size = 0;
        bool parsed = TryParseUnsigned(value, 10, out ulong integral, out int end, out bool overflow);
        if (overflow)
        {
            return end == value.Length ? SizeResult.OutOfRange : SizeResult.Invalid;
        }

        if (!parsed || value.AsSpan(0, end).Contains('-'))
        {
            return SizeResult.Invalid;
        }

        decimal fraction = 0;
        if (integral == 0 && end < value.Length && value[end] is 'x' or 'X')
        {
            if (!TryParseUnsigned(value, 16, out integral, out end, out overflow) || overflow)
            {
                return overflow ? SizeResult.OutOfRange : SizeResult.Invalid;
            }

            return end == value.Length ? Done(integral, 0, 1, out size) : SizeResult.Invalid;
        }

        if (end < value.Length && value[end] == '.')
        {
            int digitsEnd = end + 1;
            while (digitsEnd < value.Length && char.IsAsciiDigit(value[digitsEnd]))
            {
                digitsEnd++;
            }

            if (digitsEnd == end + 1 ||
                !decimal.TryParse("0" + value[end..digitsEnd], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out fraction))
            {
                return SizeResult.Invalid;
            }

            end = digitsEnd;
        }

        ulong multiplier = 1;
        if (end < value.Length)
        {
            int exponent = "BKMGTPE".IndexOf(char.ToUpperInvariant(value[end]), StringComparison.Ordinal);
            if (exponent < 0 || end + 1 != value.Length)
            {
                return SizeResult.Invalid;
            }

            multiplier = 1UL << (10 * exponent);
        }

        if (multiplier == 1 && fraction != 0)
        {
            return SizeResult.Invalid;
        }

        return Done(integral, fraction, multiplier, out size);
    }

    private static SizeResult Done(ulong integral, decimal fraction, ulong multiplier, out ulong size)
    {
        UInt128 exact = (UInt128)integral * multiplier + (UInt128)Math.Round(fraction * multiplier, MidpointRounding.AwayFromZero);
        if (exact > ulong.MaxValue)
        {
            size = 0;
            return SizeResult.OutOfRange;
        }

        size = (ulong)exact;
        return SizeResult.Ok;
    }

    /// <summary>
    /// strtoull: returns false when nothing was converted. On overflow the value saturates,
    /// <paramref name="overflow"/> is set and parsing still advances over every digit.
    /// </summary>
    private static bool TryParseUnsigned(string text, int radix, out ulong value, out int end, out bool overflow)
    {
        value = 0;
        overflow = false;
        end = 0;
        int p = 0;
        while (p < text.Length && text[p] is ' ' or '\t' or '\n' or '\v' or '\f' or '\r')
        {
            p++;
        }

        bool negative = false;
        if (p < text.Length && text[p] is '+' or '-')
        {
            negative = text[p] == '-';
            p++;
        }

        if ((radix is 0 or 16) && p + 1 < text.Length && text[p] == '0' && text[p + 1] is 'x' or 'X' &&
            p + 2 < text.Length && Uri.IsHexDigit(text[p + 2]))
        {
            radix = 16;
            p += 2;
        }
        else if (radix == 0)
        {
            radix = p < text.Length && text[p] == '0' ? 8 : 10;
        }

        int digitsStart = p;
        UInt128 accumulator = 0;
        while (p < text.Length && DigitValue(text[p]) is int digit && digit < radix)
        {
            accumulator = accumulator * (uint)radix + (uint)digit;
            if (accumulator > ulong.MaxValue)
            {
                overflow = true;
                accumulator = ulong.MaxValue;
            }

            p++;
        }

        if (p == digitsStart)
        {
            return false;
        }

        end = p;
        value = (ulong)accumulator;
        if (negative && !overflow)
        {
            value = unchecked(0UL - value);
        }

        return !overflow;
    }

    private static int? DigitValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'z' => c - 'a' + 10,
        >= 'A' and <= 'Z' => c - 'A' + 10,
        _ => null,
    };
}
