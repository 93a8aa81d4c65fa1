using BlockDaemon.Core.Graph;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Server.MetaContexts;

/// <summary>
/// qemu:allocation-depth (block-export-add allocation-depth=true): for each extent, which layer of
/// the backing chain allocates it: 0 nowhere, 1 the exported node, N the (N-1)th backing file,
/// as qemu 7.2's bdrv_is_allocated_above answers without a base.
/// </summary>
public sealed class AllocationDepthContext : INbdMetaContext
{
    public const string ContextName = "qemu:allocation-depth";

    public static readonly AllocationDepthContext Instance = new();

    private AllocationDepthContext()
    {
    }

    public string Name => ContextName;

    /// <summary>qemu's NBD_META_ID_ALLOCATION_DEPTH.</summary>
    public uint Id => 1;

    public ValueTask<NbdExtent[]> CollectAsync(BlockChild child, long offset, uint length, int max) =>
        ChainStatus.CollectAsync(child, offset, length, max, status => status.Depth);
}
