namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// A power cut before log entry <see cref="Index"/>: the entries before it reached the disk's
/// volatile cache; of those after the last flush, the pieces in the subset drawn from
/// <see cref="SubsetSeed"/> with <see cref="Survival"/> reached the platter.
/// </summary>
internal readonly record struct CrashPoint(int Index, double Survival, int SubsetSeed)
{
    /// <summary>
    /// The crash points of a run: half just before a flush (the widest window of unflushed
    /// requests), half anywhere, plus the end of the log with everything kept (the state a
    /// clean run leaves, which must match the model exactly).
    /// </summary>
    public static List<CrashPoint> Choose(RecordedRun run, int count, int seed)
    {
        var random = new Random(seed);
        var flushes = Enumerable.Range(0, run.Log.Count).Where(i => run.Log[i].Kind == Crash.DiskEventKind.Flush).ToList();
        var points = new List<CrashPoint> { new(run.Log.Count, 1.0, 0) };
        for (int i = 1; i < count; i++)
        {
            int index = i % 2 == 0 && flushes.Count > 0 ? flushes[random.Next(flushes.Count)] : random.Next(1, run.Log.Count + 1);
            double survival = random.Next(5) switch
            {
                0 => 0.0,
                1 => 1.0,
                _ => random.NextDouble(),
            };
            points.Add(new CrashPoint(index, Math.Round(survival, 2), random.Next()));
        }
        return points.Distinct().OrderBy(p => p.Index).ToList();
    }

    public CrashSubset Subset(RecordedRun run) =>
        CrashSubset.Random(run.Log, run.LastFlushBefore(Index) + 1, Index, Survival, SubsetSeed);

    public override string ToString() => $"crash point {Index} (survival {Survival}, subset seed {SubsetSeed})";
}
