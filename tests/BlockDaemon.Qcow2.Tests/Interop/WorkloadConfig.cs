namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>A starting image (its qcow2 options and what QEMU puts in it first) and the seed of the ops run on it.</summary>
/// <param name="Snapshot">Take an internal snapshot of the prefilled image, so writes must COW shared clusters.</param>
/// <param name="Compressed">Prefill includes compressed clusters (qemu-io `write -c`), which writes then overwrite.</param>
internal sealed record WorkloadConfig(
    string Name,
    int Seed,
    int ClusterSize,
    long Size,
    string Options,
    bool ExtendedL2 = false,
    bool Snapshot = false,
    bool Compressed = false,
    int OpCount = 300)
{
    private const long MiB = 1 << 20;

    public static readonly IReadOnlyList<WorkloadConfig> All =
    [
        new("cs512", 1, 512, 4 * MiB, "cluster_size=512"),
        new("cs4k-refcount2-snapshot", 2, 4096, 12 * MiB, "cluster_size=4096,refcount_bits=2", Snapshot: true),
        new("cs64k-compressed", 3, 65536, 16 * MiB, "cluster_size=65536", Compressed: true),
        new("cs32k-extended_l2", 4, 32768, 16 * MiB, "cluster_size=32768,extended_l2=on", ExtendedL2: true),
        new("cs4k-compat0.10", 5, 4096, 8 * MiB, "cluster_size=4096,compat=0.10"),
        new("cs4k-lazy_refcounts", 6, 4096, 8 * MiB, "cluster_size=4096,lazy_refcounts=on"),
        new("cs1k-refcount64", 8, 1024, 6 * MiB, "cluster_size=1024,refcount_bits=64"),
        new("cs2M-zstd", 9, 2 << 20, 32 * MiB, "cluster_size=2M,compression_type=zstd", Compressed: true),
    ];

    public static WorkloadConfig Get(string name) => All.Single(c => c.Name == name);

    public IReadOnlyList<WorkloadOp> Ops() => WorkloadGenerator.Generate(Seed, Size, ClusterSize, OpCount, ExtendedL2);

    public override string ToString() => $"{Name} (seed {Seed}, -o {Options}, {Size >> 20} MiB)";
}
