using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.MirrorTop;

/// <summary>
/// QEMU's mirror_top: the filter a mirror (or active commit) job slides above its source so every
/// guest write passes it. Reads, flushes and block status go straight to the "backing" child.
/// In background copy mode writes pass through too (the job's dirty tracker on the source sees
/// them); in write-blocking mode the job attaches <see cref="IMirrorTopWrites"/> and each write
/// also reaches the target before it completes. Only a job inserts it: it has no QMP driver name.
/// </summary>
public sealed class MirrorTopDriver : IBlockDriver, IFilterDriver, INeverFrozen
{
    private readonly BlockChild _backing;
    private volatile IMirrorTopWrites? _active;

    internal MirrorTopDriver(BlockChild backing, bool isCommit)
    {
        _backing = backing;
        IsCommit = isCommit;
        var limits = backing.Node.Driver.Limits;
        Limits = new DriverLimits
        {
            MaxTransfer = limits.MaxTransfer,
            SupportsFua = limits.SupportsFua,
            SupportsWriteZeroes = true,
            SupportsDiscard = true,
        };
    }

    public BlockChild Backing => _backing;

    BlockChild? IFilterDriver.FilteredChild => _backing;

    /// <summary>The filter of an active commit (qsd's MirrorBDSOpaque.is_commit).</summary>
    public bool IsCommit { get; }

    /// <summary>Write-blocking mode on (a handler) or off (null: plain pass-through).</summary>
    public IMirrorTopWrites? ActiveWrites
    {
        get => _active;
        set => _active = value;
    }

    public string DriverName => "mirror_top";
    public DriverLimits Limits { get; }
    public long Length => _backing.Length;
    public string DisplayName => _backing.Node.Driver.DisplayName;
    public long? AllocatedBytes => _backing.Node.Driver.AllocatedBytes;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => _backing.ReadAsync(offset, buffer, ct);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct) =>
        _active is { } active ? active.WriteAsync(_backing, offset, data, flags, ct) : _backing.WriteAsync(offset, data, flags, ct);

    public ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct) =>
        _active is { } active ? active.WriteZeroesAsync(_backing, offset, length, flags, ct) : _backing.WriteZeroesAsync(offset, length, flags, ct);

    public ValueTask DiscardAsync(long offset, long length, CancellationToken ct) =>
        _active is { } active ? active.DiscardAsync(_backing, offset, length, ct) : _backing.DiscardAsync(offset, length, ct);

    public ValueTask FlushAsync(CancellationToken ct) => _backing.FlushAsync(ct);

    public ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct) => _backing.BlockStatusAsync(offset, length, ct);

    // The job blocks resizing its source; the filter itself has no resize (qsd's mirror_top has no truncate).
    public ValueTask TruncateAsync(long length, CancellationToken ct) =>
        throw new BlockException(BlockErrorKind.NotSupported, "Image format driver does not support resize");

    // bdrv_mirror_top_child_perm: what the filter's parents need and share passes through. A
    // commit's filter cannot take consistent-read (the job unshares it above base) and must share
    // write, or writes through it would block the job's own writes to base below.
    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared)
    {
        var perm = parentPerm & BlockPermissions.Passthrough;
        var shared = (parentShared & BlockPermissions.Passthrough) | (BlockPermissions.All & ~BlockPermissions.Passthrough);
        if (IsCommit)
        {
            perm &= ~BlockPermissions.ConsistentRead;
            shared |= BlockPermissions.Write;
        }
        return (perm, shared);
    }

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
