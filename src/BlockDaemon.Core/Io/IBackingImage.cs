using BlockDaemon.Core.Graph;

namespace BlockDaemon.Core.Io;

/// <summary>
/// A format whose image can have a backing image (QEMU's supports_backing): the graph can give
/// an open node a backing child, or take it away, as external snapshots and their undo do.
/// </summary>
public interface IBackingImage
{
    /// <summary>The "backing" edge the driver reads unallocated areas through, or null.</summary>
    BlockChild? Backing { get; }

    /// <summary>
    /// Replaces the backing edge. Called on the control loop with the node drained, so no
    /// request of the driver sees the change half-way; the on-disk header is not rewritten.
    /// </summary>
    void SetBacking(BlockChild? backing);
}
