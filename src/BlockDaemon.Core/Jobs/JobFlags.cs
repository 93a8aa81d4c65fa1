namespace BlockDaemon.Core.Jobs;

/// <summary>QEMU's job creation flags (JOB_MANUAL_FINALIZE, JOB_MANUAL_DISMISS).</summary>
[Flags]
public enum JobFlags
{
    None = 0,
    ManualFinalize = 1,
    ManualDismiss = 2,
}
