using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Graph;

/// <summary>What one way of merging an image into its neighbour would move.</summary>
/// <param name="Possible">False when the image has no neighbour on that side.</param>
/// <param name="DataBytes">Bytes that would be read from the removed image and written (guest data).</param>
/// <param name="ZeroBytes">Bytes that would only be marked as zero in the target (no data moves).</param>
public readonly record struct MergeCost(bool Possible, long DataBytes, long ZeroBytes);

/// <summary>
/// The cost of removing one point in time from a backing chain. Points are numbered from the
/// bottom: point 0 is the base image, point N the top (active) image; the state a point keeps is
/// what image K reads. Removing point K merges image K into a neighbour so that the images
/// above keep reading the same data:
/// <list type="bullet">
/// <item><b>stream</b> (block-stream into image K+1 with base K-1): copies into K+1 every range
/// image K allocates and K+1 does not; K+1 then backs onto K-1. Not possible for the top.</item>
/// <item><b>commit</b> (block-commit of K into K-1): copies into K-1 every range image K
/// allocates; K+1 then backs onto K-1. Not possible for the base (nothing below it).</item>
/// </list>
/// Ranges allocated as zeroes cost a metadata update only and are counted apart from data.
/// </summary>
public sealed record MergePlan(int Point, int Points, MergeCost Stream, MergeCost Commit)
{
    /// <summary>The chain of <paramref name="top"/>, bottom first (point 0 first).</summary>
    public static IReadOnlyList<BlockChild> Chain(BlockChild top)
    {
        var chain = new List<BlockChild>();
        for (BlockChild? edge = top; edge is not null; edge = edge.Node.FindChild("backing"))
        {
            chain.Add(edge);
        }
        chain.Reverse();
        return chain;
    }

    public static async ValueTask<MergePlan> ComputeAsync(BlockChild top, int point, CancellationToken ct = default)
    {
        var chain = Chain(top);
        if (point < 0 || point >= chain.Count)
        {
            throw Errors.BlockException.Invalid($"Point {point} is not in the chain (points 0 to {chain.Count - 1}, 0 the base)");
        }
        var removed = chain[point];
        var above = point + 1 < chain.Count ? chain[point + 1] : null;
        long streamData = 0, streamZero = 0, commitData = 0, commitZero = 0;
        long length = removed.Length;
        for (long offset = 0; offset < length;)
        {
            var status = await removed.BlockStatusAsync(offset, length - offset, ct).ConfigureAwait(false);
            long run = Math.Max(1, status.Length);
            bool allocated = (status.Flags & BlockStatusFlags.Allocated) != 0;
            bool zero = (status.Flags & BlockStatusFlags.Zero) != 0;
            if (allocated)
            {
                if (zero)
                {
                    commitZero += run;
                }
                else
                {
                    commitData += run;
                }
                if (above is not null)
                {
                    // Stream only fills what the image above does not already have; past its end nothing.
                    for (long at = offset; at < offset + run && at < above.Length;)
                    {
                        var upper = await above.BlockStatusAsync(at, Math.Min(offset + run, above.Length) - at, ct).ConfigureAwait(false);
                        long n = Math.Max(1, upper.Length);
                        if ((upper.Flags & BlockStatusFlags.Allocated) == 0)
                        {
                            if (zero)
                            {
                                streamZero += n;
                            }
                            else
                            {
                                streamData += n;
                            }
                        }
                        at += n;
                    }
                }
            }
            offset += run;
        }
        return new MergePlan(point, chain.Count,
            new MergeCost(above is not null, streamData, streamZero),
            new MergeCost(point > 0, commitData, commitZero));
    }
}
