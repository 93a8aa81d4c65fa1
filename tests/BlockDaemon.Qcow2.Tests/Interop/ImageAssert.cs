using System.Text;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>Byte-for-byte comparison of two views of a virtual disk, failing with where and how they differ.</summary>
internal static class ImageAssert
{
    /// <summary>The differing ranges of two equally long buffers, merged when closer than 16 bytes.</summary>
    public static List<(long Start, long End)> Differences(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual)
    {
        var ranges = new List<(long, long)>();
        int length = Math.Min(expected.Length, actual.Length);
        int i = 0;
        while (i < length)
        {
            int first = expected[i..length].CommonPrefixLength(actual[i..length]);
            if (first == length - i)
            {
                break;
            }
            int start = i + first;
            int end = start;
            int same = 0;
            while (end < length && same < 16)
            {
                same = expected[end] == actual[end] ? same + 1 : 0;
                end++;
            }
            end -= same;
            ranges.Add((start, end));
            i = end + same;
        }
        if (expected.Length != actual.Length)
        {
            ranges.Add((length, Math.Max(expected.Length, actual.Length)));
        }
        return ranges;
    }

    /// <summary>
    /// Fails unless <paramref name="actual"/> (our driver) equals <paramref name="expected"/> (QEMU).
    /// <paramref name="explain"/> adds context for the first differing offset (e.g. the ops that wrote it).
    /// </summary>
    public static void SameContent(byte[] expected, byte[] actual, string context, int clusterSize, Func<long, string>? explain = null)
    {
        if (expected.AsSpan().SequenceEqual(actual))
        {
            return;
        }
        Assert.Fail(Describe(expected, actual, context, clusterSize, explain));
    }

    public static string Describe(byte[] expected, byte[] actual, string context, int clusterSize, Func<long, string>? explain = null)
    {
        var sb = new StringBuilder();
        sb.Append(context).Append(": our driver's view differs from QEMU's");
        if (expected.Length != actual.Length)
        {
            sb.Append($" (length: QEMU {expected.Length}, ours {actual.Length})");
        }
        var ranges = Differences(expected, actual);
        long total = ranges.Sum(r => r.End - r.Start);
        sb.Append($"; {ranges.Count} differing range(s), ~{total} bytes:\n");
        foreach (var (start, end) in ranges.Take(8))
        {
            sb.Append($"  [{start}, {end}) = 0x{start:x}+0x{end - start:x}, cluster {start / clusterSize} +{start % clusterSize}");
            if (end <= Math.Min(expected.Length, actual.Length))
            {
                sb.Append($": QEMU {Hex(expected, start, end)} ours {Hex(actual, start, end)}");
            }
            sb.Append('\n');
        }
        if (ranges.Count > 8)
        {
            sb.Append($"  ... and {ranges.Count - 8} more\n");
        }
        if (explain is not null && ranges.Count > 0)
        {
            sb.Append(explain(ranges[0].Start));
        }
        return sb.ToString();
    }

    /// <summary>
    /// Where we report Zero the disk must read as zeroes; where QEMU's map says zero and no data, we
    /// must not claim data. (Loose on purpose: we may know less than QEMU's chain-wide merge.)
    /// </summary>
    public static void StatusAgrees(
        IReadOnlyList<(long Offset, long Length, BlockStatusFlags Flags)> ours, IReadOnlyList<MapExtent> qemu, byte[] content, string context)
    {
        foreach (var (offset, length, flags) in ours)
        {
            if ((flags & BlockStatusFlags.Zero) != 0)
            {
                int nonZero = content.AsSpan((int)offset, (int)length).IndexOfAnyExcept((byte)0);
                Assert.True(nonZero < 0,
                    $"{context}: our BlockStatus reports [{offset}, {offset + length}) as zero ({flags}) but byte {offset + nonZero} is 0x{content[offset + nonZero]:x2}");
            }
        }
        // Both lists are sorted and contiguous: walk them together.
        int j = 0;
        foreach (var extent in qemu)
        {
            while (j < ours.Count && ours[j].Offset + ours[j].Length <= extent.Start)
            {
                j++;
            }
            if (!extent.Zero || extent.Data)
            {
                continue;
            }
            for (int k = j; k < ours.Count && ours[k].Offset < extent.End; k++)
            {
                var (offset, length, flags) = ours[k];
                if ((flags & (BlockStatusFlags.Data | BlockStatusFlags.Zero)) == BlockStatusFlags.Data)
                {
                    Assert.Fail($"{context}: qemu-img map says {extent} but our BlockStatus reports [{offset}, {offset + length}) as {flags}");
                }
            }
        }
    }

    private static string Hex(byte[] data, long start, long end)
    {
        int n = (int)Math.Min(16, end - start);
        string hex = Convert.ToHexString(data, (int)start, n).ToLowerInvariant();
        return n < end - start ? hex + "..." : hex;
    }
}
