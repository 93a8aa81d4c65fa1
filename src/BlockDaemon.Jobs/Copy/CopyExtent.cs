namespace BlockDaemon.Jobs.Copy;

/// <summary>What the copy engine does with a range.</summary>
public enum CopyAction
{
    /// <summary>Nothing to move: the target already reads right there (counts as progress).</summary>
    Skip,
    /// <summary>Read from the source, write to the target (as zeroes if the data is all zero).</summary>
    Copy,
    /// <summary>The source reads as zeroes: write zeroes without reading.</summary>
    Zero,
}

/// <summary>The plan's answer for the start of a range: the first <see cref="Length"/> bytes get <see cref="Action"/>.</summary>
public readonly record struct CopyExtent(long Length, CopyAction Action);

/// <summary>Which side of the copy failed, as BLOCK_JOB_ERROR's 'operation' names it.</summary>
public enum CopyOperation
{
    Read,
    Write,
}

/// <summary>What a job's error policy decided for a failed chunk.</summary>
public enum CopyErrorAction
{
    /// <summary>End the copy with this error (on-error=report).</summary>
    Fail,
    /// <summary>Leave the chunk as it is and go on; the copy still fails at its end (on-error=ignore).</summary>
    Ignore,
    /// <summary>Try the chunk again, once the job is not paused (on-error=stop pauses it; commit's ignore does not).</summary>
    Retry,
}
