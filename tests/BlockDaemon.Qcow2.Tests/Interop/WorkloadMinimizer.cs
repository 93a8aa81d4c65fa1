using System.Diagnostics;
using System.Text;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>
/// Shrinks a failing op list to a small one that fails the same way: the shortest failing prefix
/// first (binary search), then removal of chunks of ops, halving the chunk size down to single ops.
/// Bounded by a time budget; whatever it has reached by then is reported.
/// </summary>
internal static class WorkloadMinimizer
{
    public static async Task<(IReadOnlyList<WorkloadOp> Ops, TrialFailure Failure, int FirstFailingPrefix)> MinimizeAsync(
        IReadOnlyList<WorkloadOp> ops, TrialFailure original, Func<IReadOnlyList<WorkloadOp>, Task<TrialFailure?>> run,
        TimeSpan budget, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        TrialFailure failure = original;
        async Task<bool> Fails(IReadOnlyList<WorkloadOp> candidate)
        {
            var f = await run(candidate);
            if (f is not null && f.Kind == original.Kind)
            {
                failure = f;
                return true;
            }
            return false;
        }

        // Shortest failing prefix: lo never failed, hi always does.
        int lo = 0, hi = ops.Count;
        while (hi - lo > 1 && clock.Elapsed < budget)
        {
            int mid = (lo + hi) / 2;
            if (await Fails(ops.Take(mid).ToList()))
            {
                hi = mid;
            }
            else
            {
                lo = mid;
            }
        }
        int firstFailingPrefix = hi;
        var current = ops.Take(hi).ToList();
        await Fails(current);

        for (int chunk = Math.Max(1, current.Count / 2); chunk >= 1 && clock.Elapsed < budget; chunk /= 2)
        {
            // The last op is what triggers the failure: try removing everything before it.
            for (int i = 0; i + chunk < current.Count && clock.Elapsed < budget;)
            {
                var candidate = current.Take(i).Concat(current.Skip(i + chunk)).ToList();
                if (await Fails(candidate))
                {
                    current = candidate;
                }
                else
                {
                    i += chunk;
                }
            }
            if (chunk == 1)
            {
                break;
            }
        }
        // Leave `failure` describing exactly `current`.
        await Fails(current);
        ct.ThrowIfCancellationRequested();
        return (current, failure, firstFailingPrefix);
    }

    public static string Format(IReadOnlyList<WorkloadOp> ops, string image)
    {
        var sb = new StringBuilder($"qemu-io -f qcow2 {image}");
        foreach (var op in ops)
        {
            sb.Append(" \\\n    -c '").Append(op.ToQemuIo()).Append('\'');
        }
        return sb.ToString();
    }
}
