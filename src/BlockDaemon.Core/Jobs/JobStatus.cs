namespace BlockDaemon.Core.Jobs;

/// <summary>QEMU's JobStatus (qapi/job.json), in QEMU's order: the tables index by it.</summary>
public enum JobStatus
{
    Undefined,
    Created,
    Running,
    Paused,
    Ready,
    Standby,
    Waiting,
    Pending,
    Aborting,
    Concluded,
    Null,
}

/// <summary>The QAPI names clients see.</summary>
public static class JobStatusNames
{
    private static readonly string[] Names =
        ["undefined", "created", "running", "paused", "ready", "standby", "waiting", "pending", "aborting", "concluded", "null"];

    public static string ToQapi(this JobStatus status) => Names[(int)status];
}
