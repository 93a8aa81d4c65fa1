namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>
/// Builds the starting image of a workload with QEMU: optionally base ← mid below it, prefilled
/// with patterns, zero clusters, compressed clusters and a snapshot as the config asks.
/// </summary>
internal static class WorkloadImages
{
    public const string Start = "start.qcow2";

    /// <summary>Creates <see cref="Start"/> (and base.qcow2, mid.qcow2 for a chain) in <paramref name="dir"/>.</summary>
    /// <param name="prefill">False: leave the top image empty (base and mid are filled all the same).</param>
    public static async Task<string> CreateStartAsync(string dir, WorkloadConfig config, bool chain, CancellationToken ct, bool prefill = true)
    {
        int cs = config.ClusterSize;
        string? backing = null;
        if (chain)
        {
            string baseImg = Path.Combine(dir, "base.qcow2");
            await Qemu.CreateAsync(baseImg, config.Size, config.Options, ct);
            await Qemu.IoAsync(baseImg, Fill.Script(Fill.Patterns(cs, config.Size, salt: 1, config.ExtendedL2)), ct);
            string mid = Path.Combine(dir, "mid.qcow2");
            await Qemu.CreateAsync(mid, config.Size, config.Options, ct, backing: "base.qcow2");
            var midOps = Fill.Patterns(cs, config.Size, salt: 2, config.ExtendedL2).Where((_, i) => i % 2 == 1).ToList();
            midOps.AddRange(Fill.Zeroes(cs, config.Size));
            midOps.AddRange(Fill.Discards(cs, config.Size));
            await Qemu.IoAsync(mid, Fill.Script(midOps), ct);
            backing = "mid.qcow2";
        }

        string start = Path.Combine(dir, Start);
        await Qemu.CreateAsync(start, config.Size, config.Options, ct, backing);
        if (!prefill)
        {
            return start;
        }
        var script = new List<string>();
        if (config.Compressed)
        {
            // Compressed writes need unallocated whole clusters, so they come first.
            long n = config.Size / cs;
            foreach (long c in new[] { n * 3 / 8, n * 3 / 8 + 2, n * 5 / 8, n * 5 / 8 + 2 })
            {
                script.Add($"write -q -c -P 0x{(byte)(c * 5 + 1):x2} {c * cs} {cs}");
            }
            script.Add($"write -q -c -P 0x77 {config.Size - cs} {cs}");
        }
        // The top of a chain starts sparse, so most of it reads through to mid and base.
        var ops = Fill.Patterns(cs, config.Size, salt: 3, config.ExtendedL2).Where((_, i) => !chain || i % 3 == 0).ToList();
        ops.AddRange(Fill.Zeroes(cs, config.Size).Where((_, i) => !chain || i % 2 == 0));
        script.AddRange(Fill.Script(ops));
        await Qemu.IoAsync(start, script, ct);
        if (config.Snapshot)
        {
            await Qemu.SnapshotAsync(start, "before-workload", ct);
        }
        return start;
    }
}
