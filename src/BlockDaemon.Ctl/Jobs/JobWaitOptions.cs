namespace BlockDaemon.Ctl.Jobs;

/// <summary>How a helper waits: progress shown or not, a time limit, what READY and Ctrl-C do.</summary>
public sealed record JobWaitOptions
{
    /// <summary>Shown in the progress line ("Block Commit", "Block Pull", ...).</summary>
    public string Label { get; init; } = "Job";

    public bool Verbose { get; init; }

    /// <summary>Stop waiting after this long and leave the job running.</summary>
    public TimeSpan? Timeout { get; init; }

    public bool AbortOnInterrupt { get; init; }

    public ReadyAction OnReady { get; init; } = ReadyAction.LeaveRunning;

    /// <summary>Dismiss a job that stays concluded (one created with auto-dismiss=false, e.g. blockdev-create).</summary>
    public bool Dismiss { get; init; }

    /// <summary>How often query-jobs is asked for progress while no event arrives.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(250);
}
