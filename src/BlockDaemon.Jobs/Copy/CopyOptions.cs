using BlockDaemon.Core.Io;

namespace BlockDaemon.Jobs.Copy;

/// <summary>How the copy engine moves data; defaults suit image files on local disks.</summary>
public sealed record CopyOptions
{
    /// <summary>The largest request sent to the source or the target.</summary>
    public int ChunkSize { get; init; } = 1 << 20;

    /// <summary>Chunks read or written at the same time.</summary>
    public int MaxInFlight { get; init; } = 8;

    /// <summary>Ask the plan for at most this much at once (block-status calls stay cheap).</summary>
    public long MaxPlanLength { get; init; } = 1L << 30;

    /// <summary>
    /// Flags of the target writes for ranges that read as zeroes; a mirror with 'unmap' passes
    /// MayUnmap, so the target's clusters are released instead of kept as allocated zeroes.
    /// </summary>
    public WriteFlags ZeroWriteFlags { get; init; }

    /// <summary>
    /// The source copies what it reads (a copy-on-read filter, as block-stream reads): chunks,
    /// zero ones included, are only read, never written, and every failure is a read failure.
    /// </summary>
    public bool ReadCopies { get; init; }

    /// <summary>
    /// Send every chunk of the range before looking at failures, as qsd's mirror_iteration sends
    /// a whole batch before it checks for errors; otherwise (stream, commit) a failure stops new
    /// chunks at once. A range of at most <see cref="MaxInFlight"/> chunks then goes out in full
    /// whatever the timing, so the progress a failed job reports does not depend on the load.
    /// </summary>
    public bool SettleAfterRange { get; init; }
}
