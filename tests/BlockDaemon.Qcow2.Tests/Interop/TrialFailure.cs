namespace BlockDaemon.Qcow2.Tests.Interop;

internal enum TrialFailureKind
{
    /// <summary>Our driver threw while applying an op.</summary>
    OursThrew,
    /// <summary>Our view of the image (live, before closing) differs from QEMU's view of its copy.</summary>
    OursLiveDiffers,
    /// <summary>`qemu-img compare` of QEMU's copy and ours says they differ.</summary>
    QemuSeesDifference,
    /// <summary>`qemu-img check` of ours reports corruption or leaks.</summary>
    CheckFailed,
    /// <summary>Our driver, reopening its own image, reads something other than QEMU's view.</summary>
    OursReopenedDiffers,
}

/// <summary>How one run of a workload on both implementations went wrong.</summary>
internal sealed record TrialFailure(TrialFailureKind Kind, string Detail);
