using BlockDaemon.Core.Graph;

namespace BlockDaemon.Core.Io;

/// <summary>
/// A format driver whose node has a backing file (qcow2): the link can be changed while the node
/// is open, in memory (<see cref="ReplaceBacking"/>, called by the graph inside a drained
/// section) and in the image (<see cref="WriteBackingFileAsync"/>).
/// </summary>
public interface IBackingLink
{
    /// <summary>The edge to the backing node, or null.</summary>
    BlockChild? Backing { get; }

    /// <summary>Reads through <paramref name="backing"/> from now on (null: no backing file).</summary>
    void ReplaceBacking(BlockChild? backing);

    /// <summary>
    /// Rewrites the backing file name and format recorded in the image (null: none). The caller
    /// flushes whatever the new link depends on first; this makes the header durable before it
    /// returns.
    /// </summary>
    ValueTask WriteBackingFileAsync(string? fileName, string? format, CancellationToken ct);
}
