using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Server;

/// <summary>
/// The base:allocation extents of a range: HOLE where the node holds no data, ZERO where it reads
/// as zeroes (qemu's mapping of BDRV_BLOCK_DATA and BDRV_BLOCK_ZERO). Neighbours with equal flags
/// are merged; at most <c>max</c> extents are returned, covering a prefix of the range.
/// </summary>
internal static class NbdAllocationMap
{
    public static async ValueTask<NbdExtent[]> CollectAsync(BlockChild child, long offset, uint length, int max)
    {
        var extents = new List<NbdExtent>();
        long end = offset + length;
        long at = offset;
        while (at < end)
        {
            var status = await child.BlockStatusAsync(at, end - at).ConfigureAwait(false);
            uint part = (uint)Math.Clamp(status.Length, 1, end - at);
            var flags = ((status.Flags & BlockStatusFlags.Data) == 0 ? NbdAllocationFlags.Hole : NbdAllocationFlags.None)
                | ((status.Flags & BlockStatusFlags.Zero) != 0 ? NbdAllocationFlags.Zero : NbdAllocationFlags.None);
            if (extents.Count > 0 && extents[^1].Flags == (uint)flags)
            {
                extents[^1] = extents[^1] with { Length = extents[^1].Length + part };
            }
            else if (extents.Count == max)
            {
                break;
            }
            else
            {
                extents.Add(new NbdExtent(part, (uint)flags));
            }
            at += part;
        }
        return [.. extents];
    }
}
