using System.Text;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>
/// Runs one op list on two copies of a starting image, one through qemu-io and one through our
/// driver, and reports the first way they disagree (or null). The copies sit next to the
/// starting image so relative backing file names resolve the same.
/// </summary>
/// <param name="maxInFlight">1: our driver gets the ops in order; more: disjoint ops run concurrently.</param>
internal sealed class WorkloadTrial(string startImage, int clusterSize, string label, int maxInFlight = 1)
{
    private int _runs;

    public string QemuCopy { get; private set; } = "";

    public string OurCopy { get; private set; } = "";

    public async Task<TrialFailure?> RunAsync(IReadOnlyList<WorkloadOp> ops, CancellationToken ct)
    {
        string dir = Path.GetDirectoryName(startImage)!;
        int run = Interlocked.Increment(ref _runs);
        QemuCopy = Path.Combine(dir, $"run{run}-qemu.qcow2");
        OurCopy = Path.Combine(dir, $"run{run}-ours.qcow2");
        File.Copy(startImage, QemuCopy, overwrite: true);
        File.Copy(startImage, OurCopy, overwrite: true);

        if (ops.Count > 0)
        {
            await Qemu.IoAsync(QemuCopy, ops.Select(o => o.ToQemuIo()), ct);
        }
        byte[] expected = await Qemu.ReadRawAsync(QemuCopy, ct);
        string Explain(long offset) => ExplainOffset(ops, offset);

        byte[] live;
        try
        {
            await using var ours = await OurImage.OpenAsync(OurCopy, ct);
            if (maxInFlight > 1)
            {
                await ours.ApplyConcurrentAsync(ops, maxInFlight, ct);
            }
            else
            {
                await ours.ApplyAsync(ops, ct);
            }
            live = await ours.ReadAllAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new TrialFailure(TrialFailureKind.OursThrew, $"{label}: {e.Message}\n{e.InnerException ?? e}");
        }
        if (!live.AsSpan().SequenceEqual(expected))
        {
            return new TrialFailure(TrialFailureKind.OursLiveDiffers,
                ImageAssert.Describe(expected, live, $"{label}, our live view before closing", clusterSize, Explain));
        }

        var (identical, compare) = await Qemu.CompareAsync(QemuCopy, OurCopy, ct);
        if (!identical)
        {
            byte[] qemuViewOfOurs = await Qemu.ReadRawAsync(OurCopy, ct);
            return new TrialFailure(TrialFailureKind.QemuSeesDifference,
                $"{label}: qemu-img compare says the copies differ: {compare.Stdout.Trim()}\n" +
                ImageAssert.Describe(expected, qemuViewOfOurs, $"{label}, QEMU reading our copy", clusterSize, Explain));
        }

        if (HeaderBits.Problem(OurCopy) is { } problem)
        {
            return new TrialFailure(TrialFailureKind.CheckFailed, $"{label}: {problem}");
        }
        var check = await Qemu.CheckAsync(OurCopy, ct);
        if (check.ExitCode != 0)
        {
            return new TrialFailure(TrialFailureKind.CheckFailed, $"{label}: qemu-img check of our copy exited {check.ExitCode}\n{check}");
        }

        byte[] again;
        try
        {
            await using var reopened = await OurImage.OpenAsync(OurCopy, ct, readOnly: true);
            again = await reopened.ReadAllAsync(ct, chunkRotation: 3);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new TrialFailure(TrialFailureKind.OursReopenedDiffers, $"{label}: reopening our copy failed: {e}");
        }
        return again.AsSpan().SequenceEqual(expected) ? null : new TrialFailure(TrialFailureKind.OursReopenedDiffers,
            ImageAssert.Describe(expected, again, $"{label}, our driver reopening its own copy", clusterSize, Explain));
    }

    public void DeleteCopies()
    {
        File.Delete(QemuCopy);
        File.Delete(OurCopy);
    }

    /// <summary>The last ops that touched <paramref name="offset"/>, newest first.</summary>
    public static string ExplainOffset(IReadOnlyList<WorkloadOp> ops, long offset)
    {
        var sb = new StringBuilder($"Last ops covering offset {offset}, newest first:\n");
        int shown = 0;
        for (int i = ops.Count - 1; i >= 0 && shown < 5; i--)
        {
            if (ops[i].Covers(offset))
            {
                sb.Append($"  #{i}: {ops[i]}\n");
                shown++;
            }
        }
        if (shown == 0)
        {
            sb.Append("  (none: the offset keeps its starting-image content)\n");
        }
        return sb.ToString();
    }
}
