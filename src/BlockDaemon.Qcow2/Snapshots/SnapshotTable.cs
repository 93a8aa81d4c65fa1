using System.Text;
using BlockDaemon.Core.Errors;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2.Snapshots;

/// <summary>
/// The snapshot table as QEMU's qcow2_write_snapshots lays it out: entries back to back, each
/// starting on an 8-byte boundary, the size ending right after the last entry's name (its
/// padding is not part of the table, so it is neither allocated nor written).
/// </summary>
internal static class SnapshotTable
{
    /// <summary>The table's size in bytes.</summary>
    public static long ByteLength(IReadOnlyList<SnapshotEntry> entries)
    {
        long length = 0;
        foreach (var entry in entries)
        {
            length = Align8(length) + UnpaddedLength(entry);
        }
        return length;
    }

    /// <summary>The table's bytes, <see cref="ByteLength"/> long.</summary>
    public static byte[] Encode(IReadOnlyList<SnapshotEntry> entries)
    {
        long length = ByteLength(entries);
        if (length > Qcow2Limits.MaxSnapshotTableBytes)
        {
            throw new BlockException(BlockErrorKind.InvalidArgument, "Snapshot table too large") { Errno = Errno.EFBig };
        }
        // Room for the last entry's padding, which SnapshotEntry.Write always fills.
        var buffer = new byte[Align8(length)];
        int offset = 0;
        foreach (var entry in entries)
        {
            offset += entry.Write(buffer.AsSpan(offset));
        }
        return buffer.AsSpan(0, (int)length).ToArray();
    }

    /// <summary>
    /// The id QEMU gives a new snapshot (find_new_snapshot_id): one more than the largest id
    /// read as a number with strtoul, so non-numeric ids count as 0 and gaps are not reused.
    /// </summary>
    public static string NextId(IReadOnlyList<SnapshotEntry> entries)
    {
        ulong max = 0;
        foreach (var entry in entries)
        {
            max = Math.Max(max, StrToUl(entry.Id));
        }
        return unchecked(max + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static long UnpaddedLength(SnapshotEntry entry) =>
        SnapshotEntry.FixedLength + 24 + entry.UnknownExtraData.Length + Encoding.UTF8.GetByteCount(entry.Id) + Encoding.UTF8.GetByteCount(entry.Name);

    private static long Align8(long value) => (value + 7) & ~7L;

    // C's strtoul in base 10 on a 64-bit host: leading white space, an optional sign (a minus
    // negates modulo 2^64), digits until the first non-digit; saturates at ULONG_MAX.
    private static ulong StrToUl(string text)
    {
        int i = 0;
        while (i < text.Length && (text[i] == ' ' || (text[i] >= '\t' && text[i] <= '\r')))
        {
            i++;
        }
        bool negative = false;
        if (i < text.Length && (text[i] == '+' || text[i] == '-'))
        {
            negative = text[i] == '-';
            i++;
        }
        ulong value = 0;
        bool overflow = false;
        for (; i < text.Length && text[i] is >= '0' and <= '9'; i++)
        {
            ulong digit = (ulong)(text[i] - '0');
            if (value > (ulong.MaxValue - digit) / 10)
            {
                overflow = true;
            }
            value = unchecked(value * 10 + digit);
        }
        if (overflow)
        {
            return ulong.MaxValue;
        }
        return negative ? unchecked(0 - value) : value;
    }
}
