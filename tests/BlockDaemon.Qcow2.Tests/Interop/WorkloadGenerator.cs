namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>
/// Deterministic random guest workloads: the same seed gives the same ops on every machine.
/// Offsets cluster around cluster and L2-table boundaries and around a few hot spots so that
/// writes overlap, partially overwrite each other, and hit zeroed or discarded clusters again.
/// </summary>
internal static class WorkloadGenerator
{
    /// <param name="clusterSize">The image's cluster size; alignment choices and boundaries follow it.</param>
    /// <param name="subclusters">True for extended L2 entries (32 subclusters per cluster, L2 entries of 16 bytes).</param>
    public static IReadOnlyList<WorkloadOp> Generate(int seed, long size, int clusterSize, int count, bool subclusters = false)
    {
        var rng = new Random(seed);
        long l2Span = (long)clusterSize * (clusterSize / (subclusters ? 16 : 8));
        int maxLength = (int)Math.Min(size, Math.Max(3L * clusterSize, 8192));
        long[] hotSpots = Enumerable.Range(0, 4).Select(_ => rng.NextInt64(size)).ToArray();
        var ops = new List<WorkloadOp>(count);
        WorkloadOp previous = WorkloadOp.Write(0, 1, 1);

        while (ops.Count < count)
        {
            int kind = rng.Next(100);
            if (kind < 5)
            {
                ops.Add(WorkloadOp.Flush());
                continue;
            }

            long anchor = rng.Next(100) switch
            {
                < 25 => rng.NextInt64(size),
                < 50 => rng.NextInt64(1, Math.Max(2, size / clusterSize)) * clusterSize - rng.Next(clusterSize),
                < 60 => l2Span < size ? rng.NextInt64(1, Math.Max(2, size / l2Span)) * l2Span - rng.Next(2 * clusterSize) : rng.NextInt64(size),
                < 80 => previous.Offset + rng.NextInt64(-clusterSize, Math.Max(1, previous.Length)),
                _ => hotSpots[rng.Next(hotSpots.Length)] + rng.Next(-2 * clusterSize, 2 * clusterSize),
            };
            anchor = Math.Clamp(anchor, 0, size - 1);

            long offset;
            long length;
            int alignment = rng.Next(100);
            if (alignment < 40)
            {
                // Byte-granular: head and tail inside clusters, sometimes a single byte.
                offset = anchor;
                length = rng.Next(4) == 0 ? rng.Next(1, 17) : rng.Next(1, maxLength + 1);
            }
            else if (alignment < 65)
            {
                offset = anchor / 512 * 512;
                length = 512L * rng.Next(1, Math.Max(2, maxLength / 512 + 1));
            }
            else if (subclusters && alignment < 80)
            {
                int sub = clusterSize / 32;
                offset = anchor / sub * sub;
                length = (long)sub * rng.Next(1, 48);
            }
            else
            {
                offset = anchor / clusterSize * clusterSize;
                length = (long)clusterSize * rng.Next(1, 5);
            }
            offset = Math.Min(offset, size - 1);
            length = Math.Clamp(length, 1, size - offset);

            WorkloadOp op = kind switch
            {
                < 60 => WorkloadOp.Write(offset, length, (byte)rng.Next(1, 256)),
                < 72 => WorkloadOp.Zero(offset, length, unmap: false),
                < 84 => WorkloadOp.Zero(offset, length, unmap: true),
                _ => WorkloadOp.Discard(offset, length),
            };
            ops.Add(op);
            previous = op;
        }
        return ops;
    }
}
