namespace BlockDaemon.Core.Io;

/// <summary>
/// A driver that keeps a point-in-time view of its data besides the live one (QEMU's
/// bdrv_co_preadv_snapshot, bdrv_co_snapshot_block_status and bdrv_co_pdiscard_snapshot, which
/// copy-before-write provides): the snapshot-access node reads that view through it. Areas
/// outside the view, or released from it, fail with EACCES.
/// </summary>
public interface ISnapshotAccess
{
    ValueTask ReadSnapshotAsync(long offset, Memory<byte> buffer, CancellationToken ct);

    ValueTask<BlockStatus> SnapshotBlockStatusAsync(long offset, long length, CancellationToken ct);

    /// <summary>Releases the whole clusters of the range from the view: they are no longer kept, nor readable.</summary>
    ValueTask DiscardSnapshotAsync(long offset, long length, CancellationToken ct);
}
