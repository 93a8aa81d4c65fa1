using BlockDaemon.Core.Graph;

namespace BlockDaemon.Core.Drivers.Blkdebug;

/// <summary>The limit and permission options of a blkdebug node (0: not given).</summary>
internal sealed record BlkdebugLimits
{
    public int Align { get; init; }
    public int MaxTransfer { get; init; }
    public long OptWriteZero { get; init; }
    public long MaxWriteZero { get; init; }
    public long OptDiscard { get; init; }
    public long MaxDiscard { get; init; }
    public BlockPermissions TakeChildPerms { get; init; }
    public BlockPermissions UnshareChildPerms { get; init; }
}
