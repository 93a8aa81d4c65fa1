using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Graph;

/// <summary>One extent of an image map, as `qemu-img map` reports it.</summary>
/// <param name="Depth">How many backing links down the data was found (or the chain's depth when nowhere).</param>
/// <param name="Present">Some layer of the chain allocates the extent.</param>
/// <param name="HostOffset">Where the bytes are in <paramref name="HostNode"/>, or -1.</param>
public readonly record struct MapExtent(long Start, long Length, int Depth, bool Present, bool Zero, bool Data, long HostOffset, BlockNode? HostNode);

/// <summary>
/// Walks a backing chain the way `qemu-img map` does: the first layer that allocates a range
/// answers for it; a range no layer allocates is reported at the bottom of the chain.
/// </summary>
public static class BlockMap
{
    /// <summary>The extent at <paramref name="offset"/> (at most <paramref name="length"/> bytes) of what <paramref name="edge"/> reads.</summary>
    public static async ValueTask<MapExtent> GetExtentAsync(BlockChild edge, long offset, long length, CancellationToken ct = default)
    {
        var node = edge.Node;
        int depth = 0;
        while (true)
        {
            var status = await node.BlockStatusAsync(offset, length, ct).ConfigureAwait(false);
            length = Math.Min(length, status.Length);
            var flags = status.Flags;
            var backing = node.Children.FirstOrDefault(c => c.Role == "backing")?.Node;
            if ((flags & BlockStatusFlags.Allocated) != 0 || backing is null)
            {
                return new MapExtent(offset, length, depth, (flags & BlockStatusFlags.Allocated) != 0,
                    (flags & BlockStatusFlags.Zero) != 0, (flags & BlockStatusFlags.Data) != 0, status.HostOffset, status.HostNode);
            }
            if (offset >= backing.Length)
            {
                // A shorter backing file: what lies past its end reads as zeroes, at this layer.
                return new MapExtent(offset, length, depth, false, true, false, -1, null);
            }
            depth++;
            length = Math.Min(length, backing.Length - offset);
            node = backing;
        }
    }

    /// <summary>The whole map, with neighbours that differ only in length merged (as `qemu-img map` prints it).</summary>
    public static async ValueTask<IReadOnlyList<MapExtent>> GetMapAsync(BlockChild edge, CancellationToken ct = default)
    {
        var map = new List<MapExtent>();
        long length = edge.Length;
        for (long offset = 0; offset < length;)
        {
            var next = await GetExtentAsync(edge, offset, length - offset, ct).ConfigureAwait(false);
            if (next.Length <= 0)
            {
                break;
            }
            if (map.Count > 0 && Mergeable(map[^1], next))
            {
                map[^1] = map[^1] with { Length = map[^1].Length + next.Length };
            }
            else
            {
                map.Add(next);
            }
            offset += next.Length;
        }
        return map;
    }

    private static bool Mergeable(MapExtent a, MapExtent b) =>
        a.Depth == b.Depth && a.Present == b.Present && a.Zero == b.Zero && a.Data == b.Data
        && a.HostNode == b.HostNode
        && (a.HostOffset < 0 ? b.HostOffset < 0 : b.HostOffset == a.HostOffset + a.Length);
}
