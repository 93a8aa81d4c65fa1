using BlockDaemon.Core.Graph;

namespace BlockDaemon.Core.Io;

/// <summary>
/// What differs per format, protocol or filter. The generic path in <see cref="BlockChild"/>
/// has already checked bounds and permissions, aligned the request to
/// <see cref="DriverLimits.RequestAlignment"/>, split it at <see cref="DriverLimits.MaxTransfer"/>
/// and tracked it for drain: a driver sees only legal requests and never re-checks them.
/// Operations a driver does not declare in <see cref="Limits"/> are emulated by the generic path.
/// </summary>
public interface IBlockDriver : IAsyncDisposable
{
    /// <summary>The driver name as blockdev-add spells it ("file", "raw", "null-co").</summary>
    string DriverName { get; }

    DriverLimits Limits { get; }

    /// <summary>Current size in bytes.</summary>
    long Length { get; }

    /// <summary>What the node shows as its file name (qsd's `file` and `image.filename`).</summary>
    string DisplayName { get; }

    /// <summary>Bytes the image occupies on the host (qsd's `actual-size`), when known.</summary>
    long? AllocatedBytes { get; }

    ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct);

    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct);

    /// <summary>Only called when <see cref="DriverLimits.SupportsWriteZeroes"/>.</summary>
    ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct);

    /// <summary>Only called when <see cref="DriverLimits.SupportsDiscard"/>; advisory.</summary>
    ValueTask DiscardAsync(long offset, long length, CancellationToken ct);

    ValueTask FlushAsync(CancellationToken ct);

    ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct);

    /// <summary>Changes the size. Errors are <see cref="Errors.BlockException"/> in qsd's words.</summary>
    ValueTask TruncateAsync(long length, CancellationToken ct);

    /// <summary>
    /// The permissions this node needs and shares on one of its children, given what its own
    /// parents need (<paramref name="parentPerm"/>) and share (<paramref name="parentShared"/>).
    /// </summary>
    (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(
        BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared);

    /// <summary>
    /// Called before the node's cumulative permissions change; a protocol driver that holds a
    /// host resource (image locks) refuses here when another process conflicts.
    /// </summary>
    void CheckPermissions(BlockPermissions perm, BlockPermissions shared);

    /// <summary>Called once a permission change is committed graph-wide.</summary>
    void SetPermissions(BlockPermissions perm, BlockPermissions shared);

    /// <summary>
    /// The last step of opening, once the node and everything opened with it hold their
    /// permissions (children complete before their parents). QEMU drivers fix up their image
    /// during open (qcow2 repairs a dirty image, clears unknown autoclear bits) because there a
    /// child gets its permissions as it is attached; here they are computed once the whole
    /// subtree is open, so this is the first point a driver may write through its children.
    /// A failure fails the open, which is then undone.
    /// </summary>
    ValueTask CompleteOpenAsync(CancellationToken ct) => ValueTask.CompletedTask;

    /// <summary>
    /// Called with the node drained before it turns read-only (an external snapshot's old top):
    /// everything cached must reach the image, since nothing will be written after this.
    /// </summary>
    ValueTask PrepareReadOnlyAsync(CancellationToken ct) => FlushAsync(ct);

    /// <summary>
    /// Whether blockdev-reopen may name the node (QEMU drivers without bdrv_reopen_prepare,
    /// such as copy-before-write and snapshot-access, refuse every reopen, even an unchanged one).
    /// </summary>
    bool SupportsReopen => true;
}
