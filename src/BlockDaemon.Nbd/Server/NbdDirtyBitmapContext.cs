using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Server;

/// <summary>
/// A dirty bitmap offered as the "qemu:dirty-bitmap:NAME" meta context of an export (qemu's
/// block-export-add "bitmaps"). Extents have flag 1 where the bitmap is dirty, 0 where clean.
/// </summary>
public sealed record NbdDirtyBitmapContext(string ContextName, DirtyBitmap Bitmap)
{
    public const string Namespace = "qemu:";
    public const string Prefix = "qemu:dirty-bitmap:";

    /// <summary>qemu numbers base:allocation 0, qemu:allocation-depth 1 and the bitmaps from 2 on.</summary>
    public const uint FirstId = 2;

    private const uint Dirty = 1;

    /// <summary>
    /// Whether a query selects this context: its exact name; for LIST also the bare namespaces
    /// "qemu:" and "qemu:dirty-bitmap:".
    /// </summary>
    public bool Matches(string query, bool list) =>
        query == ContextName || (list && query is Namespace or Prefix);

    /// <summary>
    /// The bitmap's extents over [offset, offset + length), neighbours of equal flags merged, at
    /// most <paramref name="max"/> of them covering a prefix of the range.
    /// </summary>
    public NbdExtent[] Collect(long offset, uint length, int max)
    {
        var extents = new List<NbdExtent>();
        long end = offset + length;
        for (long at = offset; at < end;)
        {
            var (dirty, part) = Bitmap.ExtentAt(at, Math.Min(end - at, uint.MaxValue));
            if (part <= 0)
            {
                // Past the bitmap's end (the node grew after the export started): clean.
                part = end - at;
                dirty = false;
            }
            uint flags = dirty ? Dirty : 0;
            if (extents.Count > 0 && extents[^1].Flags == flags && extents[^1].Length + part <= uint.MaxValue)
            {
                extents[^1] = extents[^1] with { Length = (uint)(extents[^1].Length + part) };
            }
            else if (extents.Count == max)
            {
                break;
            }
            else
            {
                extents.Add(new NbdExtent((uint)part, flags));
            }
            at += part;
        }
        return [.. extents];
    }
}
