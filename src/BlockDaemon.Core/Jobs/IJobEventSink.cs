namespace BlockDaemon.Core.Jobs;

/// <summary>
/// Events the job engine raises; the QMP layer turns them into JOB_STATUS_CHANGE. Called on the
/// control loop only. Block jobs add their BLOCK_JOB_* events through <see cref="JobDriver"/>'s hooks.
/// </summary>
public interface IJobEventSink
{
    void StatusChanged(string id, JobStatus status);
}

/// <summary>A sink that drops everything, for tests and tools without a monitor.</summary>
public sealed class NullJobEventSink : IJobEventSink
{
    public static readonly NullJobEventSink Instance = new();

    public void StatusChanged(string id, JobStatus status)
    {
    }
}
