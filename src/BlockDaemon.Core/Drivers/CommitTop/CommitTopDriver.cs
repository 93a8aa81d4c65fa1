using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.CommitTop;

/// <summary>
/// QEMU's commit_top filter (block/commit.c): reads pass to the commit's top node, nothing is
/// written through it, and it takes no permissions on top while sharing all of them, so the
/// commit job may change what lies below while the image above keeps reading. It stands in the
/// backing chain (an <see cref="IBackingLink"/> whose link is its child) with nothing allocated
/// of its own, so chain walks go through it to top.
/// </summary>
public sealed class CommitTopDriver : IBlockDriver, IFilterDriver, IBackingLink, INeverFrozen
{
    private BlockChild? _backing;

    internal CommitTopDriver(BlockChild backing)
    {
        _backing = backing;
        Limits = new DriverLimits { MaxTransfer = backing.Node.Driver.Limits.MaxTransfer };
    }

    public BlockChild? Backing => _backing;

    public BlockChild? FilteredChild => _backing;

    public string DriverName => "commit_top";
    public DriverLimits Limits { get; }
    public long Length => _backing?.Length ?? 0;
    public string DisplayName => _backing?.Node.Driver.DisplayName ?? "";
    public long? AllocatedBytes => _backing?.Node.Driver.AllocatedBytes;

    void IBackingLink.ReplaceBacking(BlockChild? backing) => _backing = backing;

    ValueTask IBackingLink.WriteBackingFileAsync(string? fileName, string? format, CancellationToken ct) =>
        throw new BlockException(BlockErrorKind.NotSupported, "commit_top records no backing file");

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) =>
        _backing is { } backing ? backing.ReadAsync(offset, buffer, ct) : throw ReadOnly();

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct) => throw ReadOnly();

    public ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct) => throw ReadOnly();

    public ValueTask DiscardAsync(long offset, long length, CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask FlushAsync(CancellationToken ct) => ValueTask.CompletedTask;

    // Nothing is allocated in the filter itself: a walk down the chain asks top next.
    public ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct) =>
        ValueTask.FromResult(new BlockStatus(length, BlockStatusFlags.None));

    public ValueTask TruncateAsync(long length, CancellationToken ct) =>
        throw new BlockException(BlockErrorKind.NotSupported, "Cannot resize a node while it is being committed");

    private static BlockException ReadOnly() => new(BlockErrorKind.ReadOnly, "Block node is read-only");

    // bdrv_commit_top_child_perm: nothing taken, everything shared.
    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared) =>
        (BlockPermissions.None, BlockPermissions.All);

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
