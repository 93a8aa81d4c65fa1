namespace BlockDaemon.Ctl.Jobs;

/// <summary>What a waiting helper does when a mirror or active commit reaches READY (source and target in sync).</summary>
public enum ReadyAction
{
    /// <summary>Stop waiting and leave the job running in its ready phase (virsh without --pivot).</summary>
    LeaveRunning,

    /// <summary>job-complete: the target replaces the source in the graph (--pivot).</summary>
    Pivot,

    /// <summary>block-job-cancel after READY: end the job cleanly without replacing the source (--keep-overlay, --finish).</summary>
    FinishWithoutPivot,
}
