namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>
/// qemu-io scripts that put recognisable patterns where drivers go wrong: unaligned heads and
/// tails, writes across cluster and L2-table boundaries, single bytes, the last cluster.
/// </summary>
internal static class Fill
{
    public static long L2Span(int clusterSize, bool extendedL2 = false) =>
        (long)clusterSize * (clusterSize / (extendedL2 ? 16 : 8));

    /// <summary>Pattern writes; <paramref name="salt"/> varies the pattern bytes between layers.</summary>
    public static List<WorkloadOp> Patterns(int clusterSize, long size, int salt = 0, bool extendedL2 = false)
    {
        long cs = clusterSize;
        byte P(int n) => (byte)(0x11 * n + salt * 0x07 | 1);
        var ops = new List<WorkloadOp>
        {
            WorkloadOp.Write(0, 3 * cs + 17, P(1)),
            WorkloadOp.Write(cs - 100, 300, P(2)),
            WorkloadOp.Write(5 * cs + 1, cs - 2, P(3)),
            WorkloadOp.Write(size / 2 + 123, 4567, P(6)),
            WorkloadOp.Write(8 * cs, 4 * cs, P(7)),
            WorkloadOp.Write(9 * cs + 10, 1, P(8)),
            WorkloadOp.Write(size - 2 * cs - 5, 2 * cs + 5, P(5)),
        };
        long l2 = L2Span(clusterSize, extendedL2);
        for (long boundary = l2; boundary + 2000 < size - 2 * cs && boundary <= 4 * l2; boundary += l2)
        {
            ops.Add(WorkloadOp.Write(boundary - 777, 2000, P(4)));
        }
        return ops.Where(o => o.Offset >= 0 && o.End <= size).ToList();
    }

    /// <summary>write -z and write -z -u over data, over nothing, aligned and not.</summary>
    public static List<WorkloadOp> Zeroes(int clusterSize, long size)
    {
        long cs = clusterSize;
        return new List<WorkloadOp>
        {
            WorkloadOp.Zero(8 * cs, 2 * cs),
            WorkloadOp.Zero(10 * cs, cs, unmap: true),
            WorkloadOp.Zero(5 * cs + 100, 50),
            WorkloadOp.Zero(3 * cs - 10, 30, unmap: true),
            WorkloadOp.Zero(size / 4, 3 * cs, unmap: true),
            WorkloadOp.Zero(size / 4 + 5 * cs, 2 * cs),
            WorkloadOp.Write(size / 4 + cs, 100, 0xe1),
        }.Where(o => o.End <= size).ToList();
    }

    /// <summary>Discards aligned (clusters go), unaligned (partial clusters stay) and large.</summary>
    public static List<WorkloadOp> Discards(int clusterSize, long size)
    {
        long cs = clusterSize;
        return new List<WorkloadOp>
        {
            WorkloadOp.Discard(8 * cs, 2 * cs),
            WorkloadOp.Discard(cs - 100, 300),
            WorkloadOp.Discard(2 * cs + 1, 2 * cs),
            WorkloadOp.Discard(size / 2, size / 8),
            WorkloadOp.Write(size / 2 + cs + 3, 10, 0xd1),
        }.Where(o => o.End <= size).ToList();
    }

    public static IEnumerable<string> Script(IEnumerable<WorkloadOp> ops) => ops.Select(o => o.ToQemuIo());
}
