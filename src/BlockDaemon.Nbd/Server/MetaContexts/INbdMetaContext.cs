using BlockDaemon.Core.Graph;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Server.MetaContexts;

/// <summary>
/// One metadata context an export offers for NBD_CMD_BLOCK_STATUS. Each kind (base:allocation,
/// qemu:allocation-depth, qemu:dirty-bitmap:NAME) is its own class; the export lists the ones it
/// offers in the order qemu answers them, and the handshake and request handler only go through
/// this interface.
/// </summary>
public interface INbdMetaContext
{
    /// <summary>The full name, "namespace:leaf".</summary>
    string Name { get; }

    /// <summary>The id sent to clients; unique within an export (qemu's fixed numbering).</summary>
    uint Id { get; }

    /// <summary>
    /// The extents of a prefix of [offset, offset+length): at most <paramref name="max"/>, the
    /// first never empty, neighbours with equal flags merged.
    /// </summary>
    ValueTask<NbdExtent[]> CollectAsync(BlockChild child, long offset, uint length, int max);
}
