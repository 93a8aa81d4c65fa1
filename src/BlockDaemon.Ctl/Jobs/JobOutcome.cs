namespace BlockDaemon.Ctl.Jobs;

/// <summary>How waiting for a job ended.</summary>
public enum JobOutcomeKind
{
    Completed,
    Failed,
    Cancelled,

    /// <summary>READY was reached and the caller asked to leave the job running.</summary>
    ReadyLeftRunning,

    /// <summary>--timeout elapsed; the job is still running.</summary>
    TimedOut,

    /// <summary>Ctrl-C; the job is still running.</summary>
    InterruptedLeftRunning,

    /// <summary>Ctrl-C with --abort-on-interrupt; the job was cancelled.</summary>
    InterruptedCancelled,
}

/// <summary>The end of a wait: its kind, the job's error text if it failed, and where it stood.</summary>
public sealed record JobOutcome(JobOutcomeKind Kind, string? Error, string LastStatus, long Current, long Total, bool Pivoted);
