namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// One crash-consistency run: the image qemu-img creates, what QEMU puts in it first, the
/// seeded workload our driver then runs on it, and how many crash points are checked.
/// </summary>
/// <param name="Backing">The image gets a prefilled backing file, so partial writes copy from it.</param>
/// <param name="DirtyStart">QEMU leaves the image with the dirty bit set (lazy refcounts, then abort),
/// so our first write repairs the refcounts, and a crash can hit that repair.</param>
/// <param name="SmallCaches">Tiny L2 and refcount caches: tables are evicted (written) between flushes.</param>
/// <param name="PassDiscard">pass-discard-request: freed clusters are discarded in the file too (off: their
/// old bytes stay, so a reused cluster that is not filled would show them).</param>
internal sealed record CrashConfig(
    string Name,
    int Seed,
    int ClusterSize,
    long Size,
    long MaxSize,
    string Options,
    bool Backing = false,
    bool DirtyStart = false,
    bool SmallCaches = false,
    bool PassDiscard = true,
    int OpCount = 80,
    int CrashPoints = 36)
{
    private const long KiB = 1024;
    private const long MiB = 1024 * KiB;

    public static readonly IReadOnlyList<CrashConfig> All =
    [
        // 512-byte clusters with 64-bit refcounts: a refcount block covers 32 KiB of file, so the
        // refcount table grows (moves) during the run; growing past 2 MiB needs a second L1 cluster.
        new("cs512-refcount64", 101, 512, 1 * MiB, 3 * MiB, "cluster_size=512,refcount_bits=64", SmallCaches: true),
        new("cs512-refcount1-backing", 102, 512, 512 * KiB, 2560 * KiB, "cluster_size=512,refcount_bits=1", Backing: true),
        new("cs4k-refcount1-lazy", 103, 4096, 2 * MiB, 4 * MiB, "cluster_size=4096,refcount_bits=1,lazy_refcounts=on", PassDiscard: false),
        new("cs4k-backing-lazy-dirty", 104, 4096, 2 * MiB, 3 * MiB, "cluster_size=4096,lazy_refcounts=on", Backing: true, DirtyStart: true),
        new("cs64k-extended_l2-backing", 105, 65536, 4 * MiB, 6 * MiB, "cluster_size=65536,extended_l2=on", Backing: true, SmallCaches: true),
        new("cs64k-refcount64", 106, 65536, 4 * MiB, 8 * MiB, "cluster_size=65536,refcount_bits=64", PassDiscard: false),
    ];

    public static CrashConfig Get(string name) => All.Single(c => c.Name == name);

    /// <summary>BLOCKD_CRASH_POINTS multiplies the crash points per run (heavier sweeps, off by default).</summary>
    public int EffectiveCrashPoints =>
        int.TryParse(Environment.GetEnvironmentVariable("BLOCKD_CRASH_POINTS"), out int factor) && factor > 1 ? CrashPoints * factor : CrashPoints;

    public IReadOnlyList<GuestOp> Ops() => CrashWorkloadGenerator.Generate(Seed, Size, ClusterSize, OpCount, MaxSize);

    public override string ToString() => $"{Name} (seed {Seed}, -o {Options}{(Backing ? ", backing" : "")}{(DirtyStart ? ", dirty at start" : "")})";
}
