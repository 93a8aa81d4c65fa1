using System.Text;

namespace BlockDaemon.QemuJson;

/// <summary>
/// Decodes a string token (quotes included) as QEMU's parse_string does: the escapes
/// \" \' \\ \/ \b \f \n \r \t \uXXXX (a UTF-16 surrogate pair in two \u escapes makes one
/// character), and strict UTF-8 for everything else. Surrogates and Unicode noncharacters are
/// rejected both as \u escapes and as raw characters.
/// </summary>
public static class QemuJsonString
{
    /// <summary>The decoded string, or null with <paramref name="error"/> set (without the "JSON parse error, " prefix).</summary>
    public static string? Decode(byte[] token, out string? error)
    {
        error = null;
        byte quote = token[0];
        var result = new StringBuilder();
        int p = 1;
        while (p < token.Length && token[p] != quote)
        {
            if (token[p] == (byte)'\\')
            {
                int begin = p;
                p++;
                byte escape = token[p++];
                switch (escape)
                {
                    case (byte)'"' or (byte)'\'' or (byte)'\\' or (byte)'/':
                        result.Append((char)escape);
                        break;
                    case (byte)'b':
                        result.Append('\b');
                        break;
                    case (byte)'f':
                        result.Append('\f');
                        break;
                    case (byte)'n':
                        result.Append('\n');
                        break;
                    case (byte)'r':
                        result.Append('\r');
                        break;
                    case (byte)'t':
                        result.Append('\t');
                        break;
                    case (byte)'u':
                        int codePoint = ReadUnicodeEscape(token, ref p);
                        if (!IsValidCodePoint(codePoint))
                        {
                            int length = Math.Min(p, token.Length) - begin;
                            error = System.Text.Encoding.UTF8.GetString(token[begin..(begin + length)]) + " is not a valid Unicode character";
                            return null;
                        }

                        result.Append(char.ConvertFromUtf32(codePoint));
                        break;
                    default:
                        error = "invalid escape sequence in string";
                        return null;
                }

                continue;
            }

            if (!TryDecodeUtf8(token, ref p, out int raw) || !IsValidCodePoint(raw))
            {
                error = "invalid UTF-8 sequence in string";
                return null;
            }

            result.Append(char.ConvertFromUtf32(raw));
        }

        return result.ToString();
    }

    /// <summary>
    /// Reads the four hex digits after "\u" (and a following "\uDC00".."\uDFFF" when the first is
    /// a leading surrogate). Advances past the digits even when they are malformed, as QEMU does,
    /// so the error quotes them. Returns -1 for malformed input.
    /// </summary>
    private static int ReadUnicodeEscape(byte[] token, ref int p)
    {
        int codePoint = FourHex(token, p);
        p += 4;
        if (codePoint is >= 0xD800 and <= 0xDBFF &&
            p + 1 < token.Length && token[p] == (byte)'\\' && token[p + 1] == (byte)'u')
        {
            int trailing = FourHex(token, p + 2);
            if (trailing is >= 0xDC00 and <= 0xDFFF)
            {
                p += 6;
                return 0x10000 + ((codePoint & 0x3FF) << 10) + (trailing & 0x3FF);
            }

            return -1;
        }

        return codePoint;
    }

    private static int FourHex(byte[] token, int start)
    {
        int value = 0;
        for (int i = start; i < start + 4; i++)
        {
            if (i >= token.Length || !Uri.IsHexDigit((char)token[i]))
            {
                return -1;
            }

            value = value * 16 + Uri.FromHex((char)token[i]);
        }

        return value;
    }

    /// <summary>QEMU's is_valid_codepoint: in range, no surrogates, no noncharacters.</summary>
    private static bool IsValidCodePoint(int codePoint) =>
        codePoint is >= 0 and <= 0x10FFFF &&
        (codePoint & 0xFFFFF800) != 0xD800 &&
        codePoint is < 0xFDD0 or > 0xFDEF &&
        (codePoint & 0xFFFE) != 0xFFFE;

    /// <summary>
    /// One UTF-8 sequence, rejecting overlong forms except the modified-UTF-8 C0 80 for U+0000.
    /// </summary>
    private static bool TryDecodeUtf8(byte[] token, ref int p, out int codePoint)
    {
        codePoint = -1;
        byte lead = token[p];
        if (lead < 0x80)
        {
            codePoint = lead;
            p++;
            return true;
        }

        if (lead == 0xC0 && p + 1 < token.Length && token[p + 1] == 0x80)
        {
            codePoint = 0;
            p += 2;
            return true;
        }

        (int length, int minimum, int bits) = lead switch
        {
            >= 0xC2 and <= 0xDF => (2, 0x80, lead & 0x1F),
            >= 0xE0 and <= 0xEF => (3, 0x800, lead & 0x0F),
            >= 0xF0 and <= 0xF4 => (4, 0x10000, lead & 0x07),
            _ => (0, 0, 0),
        };
        if (length == 0 || p + length > token.Length)
        {
            return false;
        }

        int value = bits;
        for (int i = 1; i < length; i++)
        {
            byte continuation = token[p + i];
            if ((continuation & 0xC0) != 0x80)
            {
                return false;
            }

            value = (value << 6) | (continuation & 0x3F);
        }

        if (value < minimum)
        {
            return false;
        }

        codePoint = value;
        p += length;
        return true;
    }
}
