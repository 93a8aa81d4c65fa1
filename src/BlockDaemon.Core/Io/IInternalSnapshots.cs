namespace BlockDaemon.Core.Io;

/// <summary>
/// Implemented by format drivers that keep internal snapshots in the image (qcow2): what
/// blockdev-snapshot-internal-sync and blockdev-snapshot-delete-internal-sync act on.
/// Callers drain the node first, as QEMU does, so no guest request is in flight meanwhile.
/// </summary>
public interface IInternalSnapshots
{
    /// <summary>
    /// The snapshots in table order (the order QEMU searches and lists them). Throws a
    /// <see cref="Errors.BlockException"/> with the errno when this image cannot have any.
    /// </summary>
    IReadOnlyList<ImageSnapshot> ListSnapshots();

    /// <summary>
    /// Takes a snapshot of the current disk. The caller has checked the name (not empty, not
    /// taken). Failures are <see cref="Errors.BlockException"/>s carrying the errno QEMU
    /// would return, which the caller words as qsd does.
    /// </summary>
    ValueTask<ImageSnapshot> CreateSnapshotAsync(NewSnapshot snapshot, CancellationToken ct);

    /// <summary>Deletes the first snapshot the selector matches; errors carry their full message in qsd's words.</summary>
    ValueTask<ImageSnapshot> DeleteSnapshotAsync(SnapshotSelector selector, CancellationToken ct);
}
