using System.Text;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// Which of the requests issued after the last completed flush reached the disk before the cut.
/// A write is split at 512-byte sector boundaries of the file and each piece survives or not on
/// its own (sectors are atomic, bigger writes may tear); a truncate or discard survives whole or not.
/// </summary>
internal sealed class CrashSubset
{
    public const int Sector = 512;

    // Event index → one flag per piece (sector-aligned slice of the request).
    private readonly SortedDictionary<int, bool[]> _pieces;

    private CrashSubset(SortedDictionary<int, bool[]> pieces) => _pieces = pieces;

    public IReadOnlyDictionary<int, bool[]> Pieces => _pieces;

    public int IncludedPieces => _pieces.Values.Sum(p => p.Count(x => x));

    /// <summary>A random subset: each piece survives with probability <paramref name="survival"/>.</summary>
    public static CrashSubset Random(IReadOnlyList<DiskEvent> log, int firstUnflushed, int crashPoint, double survival, int seed)
    {
        var random = new Random(seed);
        var pieces = new SortedDictionary<int, bool[]>();
        for (int i = firstUnflushed; i < crashPoint; i++)
        {
            var flags = new bool[PieceCount(log[i])];
            for (int p = 0; p < flags.Length; p++)
            {
                flags[p] = random.NextDouble() < survival;
            }
            pieces[i] = flags;
        }
        return new CrashSubset(pieces);
    }

    /// <summary>A copy with the pieces of <paramref name="eventIndex"/> (or only piece <paramref name="piece"/>) dropped.</summary>
    public CrashSubset Without(int eventIndex, int? piece = null)
    {
        var copy = new SortedDictionary<int, bool[]>();
        foreach (var (index, flags) in _pieces)
        {
            var f = (bool[])flags.Clone();
            if (index == eventIndex)
            {
                if (piece is { } p)
                {
                    f[p] = false;
                }
                else
                {
                    Array.Fill(f, false);
                }
            }
            copy[index] = f;
        }
        return new CrashSubset(copy);
    }

    public static int PieceCount(DiskEvent e) => e.Kind == DiskEventKind.Write
        ? (int)((e.End + Sector - 1) / Sector - e.Offset / Sector)
        : 1;

    /// <summary>The file bytes of piece <paramref name="piece"/> of a write: [start, end).</summary>
    public static (long Start, long End) PieceRange(DiskEvent e, int piece)
    {
        long firstSector = e.Offset / Sector;
        long start = Math.Max(e.Offset, (firstSector + piece) * Sector);
        long end = Math.Min(e.End, (firstSector + piece + 1) * Sector);
        return (start, end);
    }

    /// <summary>Lists what survived, e.g. "#12 all, #13 pieces 0-3,7 of 9, #14 none".</summary>
    public override string ToString()
    {
        if (_pieces.Count == 0)
        {
            return "(no requests after the last flush)";
        }
        var text = new StringBuilder();
        foreach (var (index, flags) in _pieces)
        {
            text.Append(text.Length == 0 ? "" : ", ").Append('#').Append(index).Append(' ');
            int kept = flags.Count(x => x);
            if (kept == flags.Length)
            {
                text.Append("all");
            }
            else if (kept == 0)
            {
                text.Append("none");
            }
            else
            {
                text.Append("pieces ").Append(Ranges(flags)).Append(" of ").Append(flags.Length);
            }
        }
        return text.ToString();
    }

    private static string Ranges(bool[] flags)
    {
        var parts = new List<string>();
        for (int i = 0; i < flags.Length; i++)
        {
            if (!flags[i])
            {
                continue;
            }
            int j = i;
            while (j + 1 < flags.Length && flags[j + 1])
            {
                j++;
            }
            parts.Add(i == j ? $"{i}" : $"{i}-{j}");
            i = j;
        }
        return string.Join(',', parts);
    }
}
