using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Client;

/// <summary>What NBD_OPT_GO told us about the export.</summary>
public sealed record NbdExportInfo(
    ulong Size,
    NbdTransmissionFlags Flags,
    bool StructuredReplies,
    uint? AllocationContextId,
    uint MinimumBlockSize,
    uint MaximumBlockSize);
