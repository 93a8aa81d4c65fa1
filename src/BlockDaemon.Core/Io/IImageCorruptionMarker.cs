namespace BlockDaemon.Core.Io;

/// <summary>
/// A format driver that can record in the image itself that it is corrupt (qcow2's corrupt
/// bit), so that later opens refuse read-write access until the image is repaired.
/// </summary>
public interface IImageCorruptionMarker
{
    /// <summary>
    /// Sets the image's corrupt mark and stops writing metadata; called once, when the node
    /// detects an inconsistency while it is writable.
    /// </summary>
    ValueTask MarkCorruptAsync(CancellationToken ct);
}
