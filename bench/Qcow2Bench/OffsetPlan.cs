namespace BlockDaemon.Bench.Qcow2;

/// <summary>
/// The offset of every request, fixed before anything is timed, so that blockd and the qemu-io
/// side of a random run see exactly the same sequence.
/// </summary>
internal static class OffsetPlan
{
    /// <summary>
    /// seq: qemu-img bench's order, offset(i) = (OFFSET + i * STEP) mod image size (it advances
    /// by STEP and wraps at the image size). rand: OFFSET + k * SIZE, k uniform in
    /// [0, (image size - OFFSET) / SIZE), from a seeded generator.
    /// </summary>
    public static long[] Build(BenchOptions o, long imageSize, int count)
    {
        if (o.Offset >= imageSize)
        {
            throw new BenchException($"offset {o.Offset} is beyond the image size {imageSize}");
        }
        var offsets = new long[count];
        if (o.Pattern == AccessPattern.Seq)
        {
            long step = o.EffectiveStep % imageSize;
            long offset = o.Offset;
            for (int i = 0; i < count; i++)
            {
                offsets[i] = offset;
                offset = (offset + step) % imageSize;
            }
        }
        else
        {
            long slots = (imageSize - o.Offset) / o.BufferSize;
            if (slots <= 0)
            {
                throw new BenchException($"no room for a {o.BufferSize}-byte request after offset {o.Offset}");
            }
            var random = new Random(o.Seed);
            for (int i = 0; i < count; i++)
            {
                offsets[i] = o.Offset + random.NextInt64(slots) * o.BufferSize;
            }
        }
        foreach (long offset in offsets)
        {
            if (offset + o.BufferSize > imageSize)
            {
                // qemu-img bench fails the same request with "Failed request: Input/output error".
                throw new BenchException(
                    $"a request at offset {offset} of {o.BufferSize} bytes would end past the image ({imageSize} bytes); " +
                    "choose -c/-o/-S so that no request straddles the end");
            }
        }
        return offsets;
    }
}
