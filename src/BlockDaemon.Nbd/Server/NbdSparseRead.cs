using System.Runtime.CompilerServices;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Nbd.Server;

/// <summary>One piece of a structured READ reply: a range of the request that is data or a hole.</summary>
internal readonly record struct NbdReadSegment(int Start, int Length, bool Hole);

/// <summary>
/// Reads a range the way qemu's sparse read does: block status splits it into ranges that read
/// as zeroes (sent as OFFSET_HOLE, no bytes on the wire) and data (read and sent as OFFSET_DATA).
/// </summary>
internal static class NbdSparseRead
{
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<List<NbdReadSegment>> ReadAsync(BlockChild child, long offset, Memory<byte> buffer)
    {
        var segments = new List<NbdReadSegment>();
        int done = 0;
        while (done < buffer.Length)
        {
            var status = await child.BlockStatusAsync(offset + done, buffer.Length - done).ConfigureAwait(false);
            int length = (int)Math.Clamp(status.Length, 1, buffer.Length - done);
            bool hole = (status.Flags & BlockStatusFlags.Zero) != 0;
            if (!hole)
            {
                await child.ReadAsync(offset + done, buffer.Slice(done, length)).ConfigureAwait(false);
            }
            // Neighbours of the same kind become one chunk.
            if (segments.Count > 0 && segments[^1].Hole == hole)
            {
                segments[^1] = segments[^1] with { Length = segments[^1].Length + length };
            }
            else
            {
                segments.Add(new NbdReadSegment(done, length, hole));
            }
            done += length;
        }
        return segments;
    }

    /// <summary>The whole range as data (simple replies, or DF set).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<List<NbdReadSegment>> ReadWholeAsync(BlockChild child, long offset, Memory<byte> buffer)
    {
        await child.ReadAsync(offset, buffer).ConfigureAwait(false);
        return buffer.IsEmpty ? [] : [new NbdReadSegment(0, buffer.Length, false)];
    }
}
