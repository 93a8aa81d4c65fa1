using BlockDaemon.Core.Graph;

namespace BlockDaemon.Core.Bitmaps;

/// <summary>
/// Implemented by format drivers that keep dirty bitmaps in their image (qcow2). The driver
/// loads its stored bitmaps into the node at open and keeps the stored copies of the node's
/// persistent bitmaps up to date by its own rules (see the qcow2 driver for its crash guarantee).
/// </summary>
public interface IPersistentBitmapStore
{
    /// <summary>
    /// Refuses (BlockException, in qsd's words without the "Can't make bitmap ... persistent"
    /// prefix) a new persistent bitmap the image could not hold.
    /// </summary>
    void CheckCanStore(BlockNode node, string name, long granularity);

    /// <summary>Stores a bitmap that has just become persistent (a no-op on a read-only node).</summary>
    ValueTask AddAsync(DirtyBitmap bitmap, CancellationToken ct);

    /// <summary>Removes a persistent bitmap from the image, if it is stored there.</summary>
    ValueTask RemoveAsync(DirtyBitmap bitmap, CancellationToken ct);

    /// <summary>
    /// Brings the stored copies up to date with clears, merges and flag changes (marks are kept
    /// durable by the driver as writes come). Bitmap commands call it after changing a bitmap.
    /// </summary>
    ValueTask SyncAsync(CancellationToken ct);

    /// <summary>The node was resized and its bitmaps with it (called drained): store them at the new size.</summary>
    ValueTask ResizedAsync(CancellationToken ct);
}
