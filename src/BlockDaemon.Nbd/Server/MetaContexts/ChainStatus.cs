using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Server.MetaContexts;

/// <summary>
/// The status of a range as the whole backing chain below an export answers it (qemu's
/// bdrv_block_status_above without a base): the first layer that allocates the range decides
/// its flags, and <see cref="Depth"/> says which layer that is (1 the exported node, 0 none).
/// </summary>
internal readonly record struct ChainStatus(long Length, BlockStatusFlags Flags, uint Depth)
{
    /// <summary>
    /// The extents of [offset, offset+length) as the chain answers, each given the value a
    /// context reports for it, until the range or <paramref name="max"/> extents are used up.
    /// </summary>
    public static async ValueTask<NbdExtent[]> CollectAsync(BlockChild top, long offset, uint length, int max, Func<ChainStatus, uint> valueOf)
    {
        var extents = new NbdExtentBuilder(max);
        long end = offset + length;
        for (long at = offset; at < end;)
        {
            var status = await GetAsync(top, at, end - at).ConfigureAwait(false);
            if (!extents.Add((uint)status.Length, valueOf(status)))
            {
                break;
            }
            at += status.Length;
        }
        return extents.ToArray();
    }

    /// <summary>The status of a non-empty prefix of [offset, offset+length).</summary>
    public static async ValueTask<ChainStatus> GetAsync(BlockChild top, long offset, long length)
    {
        var edge = top;
        uint depth = 1;
        while (true)
        {
            var status = await edge.BlockStatusAsync(offset, length).ConfigureAwait(false);
            length = Math.Clamp(status.Length, 1, length);
            if ((status.Flags & BlockStatusFlags.Allocated) != 0)
            {
                return new(length, status.Flags, depth);
            }
            var backing = BlockGraph.ChainChildOf(edge.Node);
            if (backing is null)
            {
                return new(length, status.Flags, 0);
            }
            depth++;
            if (offset >= backing.Length)
            {
                // qemu: zeroes read past the end of a shorter backing file count as allocated in it.
                return new(length, BlockStatusFlags.Zero | BlockStatusFlags.Allocated, depth);
            }
            length = Math.Min(length, backing.Length - offset);
            edge = backing;
        }
    }
}
