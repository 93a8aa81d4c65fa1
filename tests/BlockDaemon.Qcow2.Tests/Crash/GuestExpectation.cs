namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// What the guest may read after a crash: every op acknowledged before the last completed guest
/// flush exactly ("durable"), and in the ranges of the ops after it (in flight or acknowledged
/// but not yet flushed) either that durable byte or one of those ops' new bytes. The disk size
/// is the durable one or one an in-flight resize set.
/// </summary>
internal sealed class GuestExpectation
{
    private GuestExpectation(byte[] durable, long durableSize, List<GuestOp> unflushed, int durableOps)
    {
        Durable = durable;
        DurableSize = durableSize;
        Unflushed = unflushed;
        DurableOps = durableOps;
    }

    /// <summary>The durable guest view, as long as the biggest size the disk may have.</summary>
    public byte[] Durable { get; }
    public long DurableSize { get; }
    public IReadOnlyList<GuestOp> Unflushed { get; }

    /// <summary>How many guest ops (from the start) must be durable.</summary>
    public int DurableOps { get; }

    /// <summary>The expectation at <paramref name="crashPoint"/> (requests before it reached the disk's cache).</summary>
    public static GuestExpectation At(RecordedRun run, byte[] initialView, long initialSize, int clusterSize, int crashPoint)
    {
        int durableOps = 0;
        for (int i = 0; i < run.Ops.Count; i++)
        {
            if (run.Ops[i].Kind == GuestOpKind.Flush && run.OpEnd[i] <= crashPoint)
            {
                durableOps = i + 1;
            }
        }
        long maxSize = Math.Max(initialSize, run.Ops.Where(o => o.Kind == GuestOpKind.Resize).Select(o => o.Length).DefaultIfEmpty(0).Max());
        var view = new byte[maxSize];
        initialView.CopyTo(view, 0);
        long size = initialSize;
        for (int i = 0; i < durableOps; i++)
        {
            size = Apply(view, size, clusterSize, run.Ops[i]);
        }
        var unflushed = new List<GuestOp>();
        for (int i = durableOps; i < run.Ops.Count && run.OpStart[i] < crashPoint; i++)
        {
            unflushed.Add(run.Ops[i]);
        }
        return new GuestExpectation(view, size, unflushed, durableOps);
    }

    /// <summary>Null when <paramref name="actual"/> is a possible post-crash view, else what is wrong.</summary>
    public string? Explain(byte[] actual, string reader)
    {
        var sizes = new List<long> { DurableSize };
        sizes.AddRange(Unflushed.Where(o => o.Kind == GuestOpKind.Resize).Select(o => o.Length));
        if (!sizes.Contains(actual.LongLength))
        {
            return $"{reader}: disk size {actual.LongLength}, expected one of {string.Join(", ", sizes)}";
        }
        for (long b = 0; b < actual.LongLength; b++)
        {
            // Skip the (usual) long runs that match the durable view without a per-byte look.
            b += actual.AsSpan((int)b).CommonPrefixLength(Durable.AsSpan((int)b, actual.Length - (int)b));
            if (b >= actual.LongLength)
            {
                break;
            }
            byte got = actual[b];
            if (got == Durable[b] || Unflushed.Any(o => o.ChangesData && b >= o.Offset && b < o.End && o.NewByte == got))
            {
                continue;
            }
            long end = b;
            while (end < actual.LongLength && end < b + (1 << 20) && actual[end] != Durable[end])
            {
                end++;
            }
            var covering = Unflushed.Where(o => o.ChangesData && b >= o.Offset && b < o.End).ToList();
            return $"{reader}: guest byte {b} reads 0x{got:x2}, expected 0x{Durable[b]:x2} (acknowledged before the last completed flush)" +
                (covering.Count > 0 ? $" or the new bytes of {string.Join(", ", covering)}" : "") +
                $"; {end - b} differing bytes from there";
        }
        return null;
    }

    /// <summary>Applies one guest op to a guest view, as our driver behaves when nothing crashes; returns the new size.</summary>
    private static long Apply(byte[] view, long size, int clusterSize, GuestOp op)
    {
        switch (op.Kind)
        {
            case GuestOpKind.Write:
                view.AsSpan((int)op.Offset, (int)op.Length).Fill(op.Pattern);
                return size;
            case GuestOpKind.WriteZeroes or GuestOpKind.WriteZeroesUnmap:
                view.AsSpan((int)op.Offset, (int)op.Length).Clear();
                return size;
            case GuestOpKind.Discard:
                // Only whole clusters are discarded (the tail cluster when the range ends the disk).
                long start = (op.Offset + clusterSize - 1) / clusterSize * clusterSize;
                long end = op.End == size ? size : op.End / clusterSize * clusterSize;
                if (end > start)
                {
                    view.AsSpan((int)start, (int)(end - start)).Clear();
                }
                return size;
            case GuestOpKind.Resize:
                return op.Length;
            default:
                return size;
        }
    }
}
