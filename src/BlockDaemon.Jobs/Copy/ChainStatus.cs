using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Jobs.Copy;

/// <summary>Allocation questions over a backing chain (QEMU's bdrv_is_allocated_above).</summary>
public static class ChainStatus
{
    /// <summary>
    /// Where the first bytes of [offset, offset+length) are allocated between <paramref name="top"/>
    /// (included) and <paramref name="bottom"/> (excluded; null: the end of the chain). Returns how
    /// many bytes share the answer and, when allocated, whether they read as zeroes.
    /// </summary>
    public static async ValueTask<(bool Allocated, bool Zero, long Length)> AllocatedAboveAsync(
        BlockChild top, BlockNode? bottom, long offset, long length, CancellationToken ct)
    {
        var edge = top;
        while (edge is not null && edge.Node != bottom)
        {
            if (offset >= edge.Node.Length)
            {
                // A shorter layer reads as zeroes past its end and lets nothing through from below.
                return (true, true, length);
            }
            var status = await edge.BlockStatusAsync(offset, Math.Min(length, edge.Node.Length - offset), ct).ConfigureAwait(false);
            length = Math.Min(length, status.Length);
            if ((status.Flags & BlockStatusFlags.Allocated) != 0)
            {
                return (true, (status.Flags & BlockStatusFlags.Zero) != 0, length);
            }
            edge = BlockGraph.ChainChildOf(edge.Node);
        }
        return (false, false, length);
    }
}
