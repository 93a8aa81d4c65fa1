namespace BlockDaemon.Bench.QmpLatency;

/// <summary>Order statistics of one series of measurements (all in the same unit).</summary>
internal sealed class Summary
{
    public required int Count { get; init; }
    public required double Min { get; init; }
    public required double Median { get; init; }
    public required double P90 { get; init; }
    public required double P99 { get; init; }
    public required double Max { get; init; }
    public required double Mean { get; init; }
    public required double Sum { get; init; }

    /// <summary>The samples in measurement order, kept for the JSON output.</summary>
    public required IReadOnlyList<double> Samples { get; init; }
}

internal static class Stats
{
    public static Summary Summarize(IReadOnlyList<double> samples)
    {
        if (samples.Count == 0)
            throw new ArgumentException("no samples", nameof(samples));
        double[] sorted = [.. samples];
        Array.Sort(sorted);
        return new Summary
        {
            Count = sorted.Length,
            Min = sorted[0],
            Median = Percentile(sorted, 50),
            P90 = Percentile(sorted, 90),
            P99 = Percentile(sorted, 99),
            Max = sorted[^1],
            Mean = sorted.Average(),
            Sum = sorted.Sum(),
            Samples = samples,
        };
    }

    /// <summary>
    /// Percentile by linear interpolation between the two nearest ranks (the common "type 7" definition,
    /// numpy's default): rank = p/100 * (n - 1) over the sorted samples.
    /// </summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0)
            throw new ArgumentException("no samples", nameof(sorted));
        ArgumentOutOfRangeException.ThrowIfLessThan(p, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(p, 100);
        double rank = p / 100 * (sorted.Count - 1);
        int lower = (int)Math.Floor(rank);
        int upper = Math.Min(lower + 1, sorted.Count - 1);
        return sorted[lower] + (rank - lower) * (sorted[upper] - sorted[lower]);
    }
}
