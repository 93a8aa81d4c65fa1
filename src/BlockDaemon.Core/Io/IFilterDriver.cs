using BlockDaemon.Core.Graph;

namespace BlockDaemon.Core.Io;

/// <summary>
/// A filter driver (QEMU's is_filter): it passes its one child's data through with some
/// behaviour added, so it can never be the overlay of an external snapshot.
/// </summary>
public interface IFilterDriver
{
    /// <summary>
    /// The edge to the node whose data it passes through (QEMU's bdrv_filter_child), which a walk
    /// down a backing chain follows when the filter stands in it.
    /// </summary>
    BlockChild? FilteredChild { get; }
}
