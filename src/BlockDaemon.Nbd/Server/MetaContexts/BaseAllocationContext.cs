using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Server.MetaContexts;

/// <summary>
/// base:allocation: HOLE where the node holds no data, ZERO where it reads as zeroes (qemu's
/// mapping of BDRV_BLOCK_DATA and BDRV_BLOCK_ZERO), as the whole backing chain answers: a range
/// the exported node leaves to its backing file has the backing file's status. Every export
/// offers it.
/// </summary>
public sealed class BaseAllocationContext : INbdMetaContext
{
    public const string ContextName = "base:allocation";

    public static readonly BaseAllocationContext Instance = new();

    private BaseAllocationContext()
    {
    }

    public string Name => ContextName;

    /// <summary>qemu's NBD_META_ID_BASE_ALLOCATION.</summary>
    public uint Id => 0;

    public ValueTask<NbdExtent[]> CollectAsync(BlockChild child, long offset, uint length, int max) =>
        ChainStatus.CollectAsync(child, offset, length, max, static status => (uint)(
            ((status.Flags & BlockStatusFlags.Data) == 0 ? NbdAllocationFlags.Hole : NbdAllocationFlags.None)
            | ((status.Flags & BlockStatusFlags.Zero) != 0 ? NbdAllocationFlags.Zero : NbdAllocationFlags.None)));
}
