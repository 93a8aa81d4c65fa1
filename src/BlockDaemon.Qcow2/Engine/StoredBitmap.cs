using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2.Engine;

/// <summary>
/// One bitmap of the image's directory and what the driver knows of its copy on disk. A
/// consistent bitmap has every data cluster allocated (no all-zero table entries), so its bits
/// change on disk by overwriting data clusters in place, with no metadata change.
/// <see cref="Durable"/> holds the bits known to be on disk; it is guarded by this object's
/// lock, taken before the live bitmap's lock when both are needed.
/// </summary>
internal sealed class StoredBitmap
{
    public StoredBitmap(BitmapDirectoryEntry entry, DirtyBitmap live)
    {
        Entry = entry;
        Live = live;
    }

    /// <summary>The entry as the directory on disk has it.</summary>
    public BitmapDirectoryEntry Entry { get; set; }

    /// <summary>The node's bitmap this entry stores (the successor after a job abdicated).</summary>
    public DirtyBitmap Live { get; set; }

    /// <summary>Host offsets of the data clusters, by table index; empty for an entry kept as found (in use).</summary>
    public ulong[] DataClusters { get; set; } = [];

    /// <summary>The bits on disk, or null for an entry kept as found (an inconsistent bitmap).</summary>
    public Core.Bitmaps.HierarchicalBitmap? Durable { get; set; }

    /// <summary>The live bitmap's <see cref="DirtyBitmap.ChangeCount"/> when its changes were last stored.</summary>
    public long StoredChanges { get; set; } = -1;

    /// <summary>The live object <see cref="StoredChanges"/> refers to.</summary>
    public DirtyBitmap? StoredObject { get; set; }

    public bool KeptAsFound => Durable is null;

    /// <summary>A write-ahead stored more bits than the bitmap has (see Qcow2Driver.AheadOf); a close stores the exact ones.</summary>
    public bool MarkedAhead { get; set; }

    /// <summary>In the directory when the image was opened (new bitmaps go after these, as qsd stores them).</summary>
    public bool Loaded { get; init; }
}
