using BlockDaemon.Jobs.BlockJobs;

namespace BlockDaemon.Jobs.Backup;

/// <summary>QAPI MirrorSyncMode as backup reads it ('incremental' arrives as <see cref="Bitmap"/>).</summary>
public enum BackupSync
{
    Top,
    Full,
    None,
    Bitmap,
}

/// <summary>QAPI BitmapSyncMode: what happens to the sync bitmap when the job ends.</summary>
public enum BitmapSyncMode
{
    /// <summary>On success the bitmap holds only what was written during the job; on failure it keeps every bit.</summary>
    OnSuccess,
    /// <summary>The bitmap keeps every bit (plus what was written during the job).</summary>
    Never,
    /// <summary>Like on-success, and on failure too, minus the clusters that were copied.</summary>
    Always,
}

/// <summary>The arguments of a backup job, validated by the QMP command.</summary>
public sealed record BackupOptions
{
    public BackupSync Sync { get; init; } = BackupSync.Full;

    public BitmapSyncMode BitmapMode { get; init; } = BitmapSyncMode.OnSuccess;

    public bool Compress { get; init; }

    public OnErrorPolicy OnSourceError { get; init; } = OnErrorPolicy.Report;

    public OnErrorPolicy OnTargetError { get; init; } = OnErrorPolicy.Report;

    /// <summary>x-perf max-workers: copies in flight at once (QEMU's default is 64).</summary>
    public int MaxWorkers { get; init; } = 64;

    /// <summary>x-perf max-chunk: the largest single copy, 0 for the default (1 MiB).</summary>
    public long MaxChunk { get; init; }
}
