using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.SnapshotAccess;

/// <summary>
/// QEMU's snapshot-access: presents the point-in-time view its "file" child keeps (a
/// copy-before-write node, see <see cref="ISnapshotAccess"/>) as an ordinary read-only image,
/// for a fleecing export. Reads and block status come from that view; a discard releases
/// clusters from it (the fleecing image may free them); writes are refused. Over a node that
/// keeps no such view every request fails with ENOTSUP, as in qsd.
/// </summary>
public sealed class SnapshotAccessDriver : IBlockDriver
{
    private readonly BlockChild _file;

    internal SnapshotAccessDriver(BlockChild file)
    {
        _file = file;
        Limits = new DriverLimits
        {
            SupportsWriteZeroes = true,
            SupportsDiscard = true,
        };
    }

    public string DriverName => "snapshot-access";
    public bool SupportsReopen => false;
    public DriverLimits Limits { get; }
    public long Length => _file.Length;
    public string DisplayName => _file.Node.Driver.DisplayName;
    public long? AllocatedBytes => _file.Node.Driver.AllocatedBytes;

    private ISnapshotAccess View => _file.Node.Driver as ISnapshotAccess
        ?? throw new BlockException(BlockErrorKind.NotSupported, Errno.Text(ENotSup)) { Errno = ENotSup };

    private const int ENotSup = 95;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => View.ReadSnapshotAsync(offset, buffer, ct);

    public ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct) => View.SnapshotBlockStatusAsync(offset, length, ct);

    public ValueTask DiscardAsync(long offset, long length, CancellationToken ct) => View.DiscardSnapshotAsync(offset, length, ct);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct) => throw Refused();

    public ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct) => throw Refused();

    // Nothing is written through this node, so there is nothing of its own to flush.
    public ValueTask FlushAsync(CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask TruncateAsync(long length, CancellationToken ct) =>
        throw new BlockException(BlockErrorKind.NotSupported, "Image format driver does not support resize");

    private static BlockException Refused() => new(BlockErrorKind.NotSupported, Errno.Text(ENotSup)) { Errno = ENotSup };

    // snapshot_access_child_perm: the view is read through the file's own API, which needs
    // no permission on it, and whatever others do with the node is fine.
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
