namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// Seeded random guest requests for a crash run: allocating writes, partial-cluster writes,
/// overwrites of earlier writes, write-zeroes with and without unmap, discards, growing
/// resizes and flushes at random points. Every write gets its own non-zero pattern, so a byte
/// read back after a crash tells which request (if any) it came from.
/// </summary>
internal static class CrashWorkloadGenerator
{
    public static IReadOnlyList<GuestOp> Generate(int seed, long size, int clusterSize, int count, long maxSize)
    {
        var random = new Random(seed);
        var ops = new List<GuestOp>(count);
        var written = new List<(long Offset, long Length)>();
        byte pattern = 0;
        for (int i = 0; i < count; i++)
        {
            int roll = random.Next(100);
            GuestOp op;
            if (roll < 45)
            {
                var (offset, length) = WriteRange(random, size, clusterSize, written);
                pattern = (byte)(pattern % 254 + 1);
                op = new GuestOp(GuestOpKind.Write, offset, length, pattern);
                written.Add((offset, length));
            }
            else if (roll < 55)
            {
                var (offset, length) = ClusterishRange(random, size, clusterSize);
                op = new GuestOp(GuestOpKind.WriteZeroes, offset, length);
            }
            else if (roll < 65)
            {
                var (offset, length) = ClusterishRange(random, size, clusterSize);
                op = new GuestOp(GuestOpKind.WriteZeroesUnmap, offset, length);
            }
            else if (roll < 75)
            {
                var (offset, length) = ClusterishRange(random, size, clusterSize);
                op = new GuestOp(GuestOpKind.Discard, offset, length);
            }
            else if (roll < 79 && size < maxSize)
            {
                // Grow by a few clusters or, now and then, by enough to need a bigger L1 table.
                long grow = random.Next(3) == 0 ? maxSize - size : (long)clusterSize * random.Next(1, 8);
                size = Math.Min(maxSize, (size + grow + 511) / 512 * 512);
                op = new GuestOp(GuestOpKind.Resize, 0, size);
            }
            else
            {
                op = new GuestOp(GuestOpKind.Flush, 0, 0);
            }
            ops.Add(op);
        }
        ops.Add(new GuestOp(GuestOpKind.Flush, 0, 0));
        return ops;
    }

    private static (long Offset, long Length) WriteRange(Random random, long size, int clusterSize, List<(long Offset, long Length)> written)
    {
        switch (random.Next(4))
        {
            case 0 when written.Count > 0:
                // Overwrite (part of) an earlier write: in place when its cluster is ours.
                var (o, l) = written[random.Next(written.Count)];
                long from = o + random.NextInt64(l);
                return (from, Math.Max(1, Math.Min(o + l - from, random.NextInt64(1, 3L * clusterSize))));
            case 1:
                // Inside one cluster, unaligned: copy-on-write of the rest of the cluster.
                long cluster = random.NextInt64(size / clusterSize);
                long start = cluster * clusterSize + random.Next(clusterSize);
                long length = random.NextInt64(1, cluster * clusterSize + clusterSize - start + 1);
                return (start, length);
            default:
                // Cluster aligned or not, spanning up to four clusters.
                long offset = random.Next(2) == 0
                    ? random.NextInt64(size / clusterSize) * clusterSize
                    : random.NextInt64(size - 1);
                long len = random.NextInt64(1, 4L * clusterSize + 1);
                return (offset, Math.Min(len, size - offset));
        }
    }

    // Ranges for zeroes and discards: mostly whole clusters, sometimes with unaligned edges.
    private static (long Offset, long Length) ClusterishRange(Random random, long size, int clusterSize)
    {
        long clusters = size / clusterSize;
        long first = random.NextInt64(clusters);
        long count = random.NextInt64(1, Math.Min(6, clusters - first) + 1);
        long offset = first * clusterSize;
        long length = count * clusterSize;
        if (random.Next(3) == 0)
        {
            long trim = random.NextInt64(clusterSize);
            offset += trim;
            length = Math.Max(1, length - trim - random.NextInt64(clusterSize));
        }
        return (offset, Math.Min(length, size - offset));
    }
}
