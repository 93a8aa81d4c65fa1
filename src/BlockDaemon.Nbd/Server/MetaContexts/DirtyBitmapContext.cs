using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Graph;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Server.MetaContexts;

/// <summary>
/// qemu:dirty-bitmap:NAME (block-export-add "bitmaps"): flag 1 where the bitmap is dirty, 0 where
/// clean. The bitmap is read directly, not through the export's edge: it may belong to a node
/// further down the backing chain, or to any node ({node, name}).
/// </summary>
public sealed class DirtyBitmapContext : INbdMetaContext
{
    public const string Prefix = "qemu:dirty-bitmap:";

    /// <summary>qemu numbers base:allocation 0, qemu:allocation-depth 1 and the bitmaps from 2 on.</summary>
    public const uint FirstId = 2;

    private const uint Dirty = 1;

    /// <param name="exportedName">The name the client sees after the prefix (the name block-export-add was given).</param>
    /// <param name="index">The bitmap's position in block-export-add's list.</param>
    public DirtyBitmapContext(string exportedName, DirtyBitmap bitmap, int index)
    {
        Name = Prefix + exportedName;
        Bitmap = bitmap;
        Id = FirstId + (uint)index;
    }

    public string Name { get; }

    public uint Id { get; }

    public DirtyBitmap Bitmap { get; }

    public ValueTask<NbdExtent[]> CollectAsync(BlockChild child, long offset, uint length, int max)
    {
        var extents = new NbdExtentBuilder(max);
        long end = offset + length;
        for (long at = offset; at < end;)
        {
            var (dirty, part) = Bitmap.ExtentAt(at, end - at);
            if (part <= 0)
            {
                // Past the bitmap's end (the node grew after the export started): clean.
                part = end - at;
                dirty = false;
            }
            if (!extents.Add((uint)part, dirty ? Dirty : 0))
            {
                break;
            }
            at += part;
        }
        return ValueTask.FromResult(extents.ToArray());
    }
}
