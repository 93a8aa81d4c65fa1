using BlockDaemon.Jobs.BlockJobs;

namespace BlockDaemon.Jobs.Mirror;

/// <summary>QAPI MirrorSyncMode: which part of the source's chain the target gets.</summary>
public enum MirrorSync
{
    /// <summary>Only what the source itself holds (the target's backing chain supplies the rest).</summary>
    Top,
    /// <summary>Everything the source's chain reads.</summary>
    Full,
    /// <summary>Only guest writes made while the job runs.</summary>
    None,
}

/// <summary>The arguments of a mirror job, validated by the QMP command.</summary>
public sealed record MirrorOptions
{
    public MirrorSync Sync { get; init; } = MirrorSync.Full;

    /// <summary>Bytes per dirty bit; a power of two in [512, 64 MiB].</summary>
    public int Granularity { get; init; } = 64 << 10;

    /// <summary>The most data in flight at once (QEMU's DEFAULT_MIRROR_BUF_SIZE by default).</summary>
    public long BufSize { get; init; } = 16 << 20;

    public OnErrorPolicy OnSourceError { get; init; } = OnErrorPolicy.Report;

    public OnErrorPolicy OnTargetError { get; init; } = OnErrorPolicy.Report;

    /// <summary>Whether ranges that read as zeroes may be unmapped on the target (drive-mirror's 'unmap'; always on for blockdev-mirror, as in qsd).</summary>
    public bool Unmap { get; init; } = true;

    /// <summary>copy-mode=write-blocking: a guest write completes only once it is on the target too (where that area was copied already).</summary>
    public bool WriteBlocking { get; init; }

    /// <summary>The target may hold old data: sync=full copies everything, holes included (drive-mirror mode=existing).</summary>
    public bool ZeroTarget { get; init; }
}
