using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Graph;

// The node's dirty bitmaps (QEMU's bs->dirty_bitmaps): the list changes on the control loop
// only, by swapping an immutable array, so the data path reads it without a lock.
public sealed partial class BlockNode
{
    /// <summary>QEMU's BDRV_BITMAP_MAX_NAME_SIZE.</summary>
    public const int MaxBitmapNameLength = 1023;

    private DirtyBitmap[] _dirtyBitmaps = [];

    /// <summary>Newest first, anonymous successors included (the order qsd lists them).</summary>
    public IReadOnlyList<DirtyBitmap> DirtyBitmaps => Volatile.Read(ref _dirtyBitmaps);

    public DirtyBitmap? FindDirtyBitmap(string name)
    {
        foreach (var bitmap in Volatile.Read(ref _dirtyBitmaps))
        {
            if (bitmap.Name == name)
            {
                return bitmap;
            }
        }
        return null;
    }

    /// <summary>
    /// QEMU's bdrv_get_default_bitmap_granularity: the cluster size bounded to 4 KiB..64 KiB,
    /// 64 KiB when the format has no clusters.
    /// </summary>
    public long DefaultBitmapGranularity =>
        (Driver as IImageInfoSource)?.GetImageInfo().ClusterSize is int cluster and > 0 ? Math.Clamp(cluster, 4096, 65536) : 65536;

    /// <summary>Creates a recording bitmap (bdrv_create_dirty_bitmap), with its errors.</summary>
    public DirtyBitmap CreateDirtyBitmap(string? name, long granularity)
    {
        if (name is not null)
        {
            if (FindDirtyBitmap(name) is not null)
            {
                throw new BlockException(BlockErrorKind.InvalidArgument, $"Bitmap already exists: {name}");
            }
            if (System.Text.Encoding.UTF8.GetByteCount(name) > MaxBitmapNameLength)
            {
                throw new BlockException(BlockErrorKind.InvalidArgument, $"Bitmap name too long: {name}");
            }
        }
        var bitmap = new DirtyBitmap(name, granularity, Length);
        AttachDirtyBitmap(bitmap);
        return bitmap;
    }

    /// <summary>Adds a bitmap built elsewhere (a driver loading its stored bitmaps) at the head of the list.</summary>
    public void AttachDirtyBitmap(DirtyBitmap bitmap)
    {
        var list = Volatile.Read(ref _dirtyBitmaps);
        Volatile.Write(ref _dirtyBitmaps, [bitmap, .. list]);
    }

    /// <summary>A loaded bitmap as a driver found it in its image.</summary>
    public DirtyBitmap LoadDirtyBitmap(string name, long granularity, bool disabled, bool inconsistent, bool readOnly)
    {
        var bitmap = new DirtyBitmap(name, granularity, Length)
        {
            Persistent = true,
            Disabled = disabled || inconsistent,
            Inconsistent = inconsistent,
            ReadOnly = readOnly,
        };
        AttachDirtyBitmap(bitmap);
        return bitmap;
    }

    public void ReleaseDirtyBitmap(DirtyBitmap bitmap)
    {
        var list = Volatile.Read(ref _dirtyBitmaps);
        Volatile.Write(ref _dirtyBitmaps, list.Where(b => !ReferenceEquals(b, bitmap)).ToArray());
    }

    public void EnableDirtyBitmap(DirtyBitmap bitmap) => bitmap.Disabled = false;

    public void DisableDirtyBitmap(DirtyBitmap bitmap) => bitmap.Disabled = true;

    /// <summary>
    /// Freezes <paramref name="bitmap"/> for a job (bdrv_dirty_bitmap_create_successor): it stops
    /// recording and turns busy; an anonymous successor records from now on, as the bitmap did.
    /// </summary>
    public DirtyBitmap CreateSuccessor(DirtyBitmap bitmap)
    {
        if (bitmap.Busy)
        {
            throw new BlockException(BlockErrorKind.Busy, "Cannot create a successor for a bitmap that is in-use by an operation");
        }
        var successor = new DirtyBitmap(null, bitmap.Granularity, bitmap.DiskLength) { Disabled = bitmap.Disabled };
        bitmap.SetSuccessor(successor);
        bitmap.Disabled = true;
        AttachDirtyBitmap(successor);
        return successor;
    }

    /// <summary>
    /// The job succeeded (bdrv_dirty_bitmap_abdicate): the successor takes the bitmap's name and
    /// persistence and the frozen bitmap goes away. Returns the bitmap that now has the name.
    /// </summary>
    public DirtyBitmap AbdicateDirtyBitmap(DirtyBitmap bitmap)
    {
        var successor = bitmap.Successor ?? throw new InvalidOperationException("Cannot relinquish control if there's no successor present");
        successor.Name = bitmap.Name;
        successor.Persistent = bitmap.Persistent;
        bitmap.Name = null;
        bitmap.Persistent = false;
        bitmap.SetSuccessor(null);
        ReplaceInList(bitmap, successor);
        return successor;
    }

    /// <summary>
    /// The job failed or was cancelled (bdrv_reclaim_dirty_bitmap): what the successor recorded
    /// is merged back, the bitmap records as the successor did and is no longer busy.
    /// </summary>
    public DirtyBitmap ReclaimDirtyBitmap(DirtyBitmap bitmap)
    {
        var successor = bitmap.Successor ?? throw new InvalidOperationException("Cannot reclaim a successor when none is present");
        bitmap.MergeFrom(successor, keepBackup: false);
        bitmap.Disabled = successor.Disabled;
        bitmap.SetSuccessor(null);
        ReleaseDirtyBitmap(successor);
        return bitmap;
    }

    // The successor takes the frozen bitmap's place in the list (qsd lists it there).
    private void ReplaceInList(DirtyBitmap old, DirtyBitmap replacement)
    {
        var list = Volatile.Read(ref _dirtyBitmaps)
            .Where(b => !ReferenceEquals(b, replacement))
            .Select(b => ReferenceEquals(b, old) ? replacement : b)
            .ToArray();
        Volatile.Write(ref _dirtyBitmaps, list);
    }

    // Called by the write path before the driver sees a change, so a persistence layer that
    // writes bitmaps ahead of data always finds the bits already set in memory.
    private void MarkDirtyBitmaps(long offset, long length)
    {
        foreach (var bitmap in Volatile.Read(ref _dirtyBitmaps))
        {
            if (!bitmap.Disabled)
            {
                bitmap.Mark(offset, length);
            }
        }
    }

    private void ResizeDirtyBitmaps(long length)
    {
        foreach (var bitmap in Volatile.Read(ref _dirtyBitmaps))
        {
            bitmap.Resize(length);
        }
    }
}
