namespace BlockDaemon.Qcow2.Engine;

/// <summary>Why clusters were freed, which decides whether the file is told to discard them (QEMU's qcow2_discard_type).</summary>
internal enum FreeReason
{
    /// <summary>Anything else: copy on write, moved tables (pass-discard-other, off by default).</summary>
    Other,

    /// <summary>The guest discarded or zeroed with unmap (pass-discard-request).</summary>
    Request,

    /// <summary>A snapshot was deleted (pass-discard-snapshot, on by default).</summary>
    Snapshot,

    /// <summary>Always discarded (the tail cut off by a shrink).</summary>
    Always,
}

/// <summary>The pass-discard-* options of a qcow2 node.</summary>
internal sealed record DiscardPolicy(bool Request, bool Snapshot, bool Other)
{
    public bool Passes(FreeReason reason) => reason switch
    {
        FreeReason.Request => Request,
        FreeReason.Snapshot => Snapshot,
        FreeReason.Other => Other,
        _ => true,
    };
}
