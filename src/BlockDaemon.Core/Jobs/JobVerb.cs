namespace BlockDaemon.Core.Jobs;

/// <summary>
/// QEMU 7.2's JobVerb, in QEMU's order. (QEMU 8.2 adds 'change' for block-job-change; qsd 7.2,
/// whose peer we are, has no such verb or command.)
/// </summary>
public enum JobVerb
{
    Cancel,
    Pause,
    Resume,
    SetSpeed,
    Complete,
    Dismiss,
    Finalize,
}

public static class JobVerbNames
{
    private static readonly string[] Names = ["cancel", "pause", "resume", "set-speed", "complete", "dismiss", "finalize"];

    public static string ToQapi(this JobVerb verb) => Names[(int)verb];
}
