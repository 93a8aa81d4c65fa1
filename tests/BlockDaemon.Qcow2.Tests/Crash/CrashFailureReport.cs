using System.Text;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// The text of a failing crash point: enough to replay it (config and seed, crash point and
/// subset, where the image was kept) and to see what the driver was doing (the last guest ops
/// and the disk requests since the last flush).
/// </summary>
internal static class CrashFailureReport
{
    public static string Format(CrashConfig config, int seed, RecordedRun run, CrashPoint point, CrashSubset original,
        CrashSubset minimal, GuestExpectation expectation, string failure, string? keptImage)
    {
        var text = new StringBuilder();
        text.AppendLine($"Crash consistency violated: {config} with workload seed {seed}, {point}.");
        text.AppendLine(failure);
        int lastFlush = run.LastFlushBefore(point.Index);
        text.AppendLine($"Disk log: {run.Log.Count} requests; last completed flush is #{lastFlush}; the cut is before #{point.Index}.");
        text.AppendLine($"Surviving unflushed requests (drawn): {original}");
        text.AppendLine($"Surviving unflushed requests (minimised, still failing): {minimal}");
        int inFlight = Enumerable.Range(0, run.Ops.Count).LastOrDefault(i => run.OpStart[i] < point.Index, -1);
        text.AppendLine($"Guest ops 0..{expectation.DurableOps - 1} must be durable; the op in flight at the cut is {inFlight}. Last ops:");
        for (int i = Math.Max(0, expectation.DurableOps - 4); i <= inFlight && i < run.Ops.Count; i++)
        {
            string mark = i == inFlight ? "  <- in flight" : i < expectation.DurableOps ? "  (durable)" : "";
            text.AppendLine($"  op {i}: {run.Ops[i]}  [disk #{run.OpStart[i]}..#{run.OpEnd[i] - 1}]{mark}");
        }
        text.AppendLine("Disk requests after the last flush:");
        foreach (var e in run.Log.Skip(lastFlush + 1).Take(point.Index - lastFlush - 1).Take(60))
        {
            bool kept = minimal.Pieces.TryGetValue(e.Index, out var flags) && flags.Any(x => x);
            text.AppendLine($"  {e}{(kept ? "  (survives in the minimised subset)" : "")}");
        }
        if (keptImage is not null)
        {
            text.AppendLine($"The minimised post-crash image is kept at {keptImage} (with its backing file, if any).");
        }
        text.AppendLine("Replay: run the same test (seeds are fixed); BLOCKD_CRASH_SEED=N runs the configs with another workload seed.");
        return text.ToString();
    }
}
