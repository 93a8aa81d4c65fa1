namespace BlockDaemon.Qcow2.Check;

/// <summary>What a check found (and fixed), in the terms of qemu-img check.</summary>
public sealed record Qcow2CheckResult
{
    public long Corruptions { get; init; }
    public long Leaks { get; init; }
    public long CorruptionsFixed { get; init; }
    public long LeaksFixed { get; init; }
    public long AllocatedClusters { get; init; }
    public long TotalClusters { get; init; }
    public long ImageEndOffset { get; init; }

    /// <summary>Guest clusters the active L2 tables allocate (qemu-img check's allocated-clusters).</summary>
    public long GuestAllocatedClusters { get; init; }
    public long FragmentedClusters { get; init; }
    public long CompressedClusters { get; init; }

    /// <summary>One line per problem, as qemu-img check prints them ("ERROR ...", "Leaked cluster ...").</summary>
    public IReadOnlyList<string> Messages { get; init; } = [];

    /// <summary>Why the check itself failed (qemu-img: "Check failed: ..."), after the messages were printed.</summary>
    public string? Failure { get; init; }

    public bool IsClean => Corruptions == 0 && Leaks == 0;
}
