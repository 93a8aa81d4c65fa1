namespace BlockDaemon.Nbd.Server;

/// <summary>What a finished handshake agreed on.</summary>
internal sealed record NbdSession(NbdExport Export, bool StructuredReplies, bool BaseAllocation);
