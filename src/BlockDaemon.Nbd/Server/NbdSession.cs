using BlockDaemon.Nbd.Server.MetaContexts;

namespace BlockDaemon.Nbd.Server;

/// <summary>What a finished handshake agreed on; <paramref name="MetaContexts"/> in the export's order.</summary>
internal sealed record NbdSession(NbdExport Export, bool StructuredReplies, IReadOnlyList<INbdMetaContext> MetaContexts);
