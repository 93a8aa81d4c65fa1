using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.Raw;

/// <summary>
/// Passes requests to its file child, shifted by <c>offset</c>. Without offset/size it is a
/// pure filter (permissions pass straight through); with them it is a fixed window that
/// cannot be resized and does not let others resize the file under it.
/// </summary>
public sealed class RawDriver : IBlockDriver
{
    private readonly BlockChild _file;
    private readonly long _offset;
    private readonly long? _size;

    internal RawDriver(BlockChild file, long offset, long? size)
    {
        _file = file;
        _offset = offset;
        _size = size;
        var childLimits = file.Node.Driver.Limits;
        Limits = new DriverLimits
        {
            // Alignment stays 1: the file child does its own read-modify-write, so an unaligned
            // write to a small window never widens past the window.
            MaxTransfer = childLimits.MaxTransfer,
            SupportsFua = true,
            SupportsWriteZeroes = true,
            SupportsDiscard = true,
            SupportsTruncate = true,
        };
    }

    public string DriverName => "raw";
    public DriverLimits Limits { get; }
    public long Length => _size ?? Math.Max(0, _file.Length - _offset);
    public bool IsWindow => _offset != 0 || _size is not null;
    public string DisplayName => _file.Node.Driver.DisplayName;
    public long? AllocatedBytes => _file.Node.Driver.AllocatedBytes;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        _file.RaiseDebugEvent(DebugEvent.ReadAio);
        return _file.ReadAsync(_offset + offset, buffer, ct);
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        _file.RaiseDebugEvent(DebugEvent.WriteAio);
        return _file.WriteAsync(_offset + offset, data, flags, ct);
    }

    public ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct) =>
        _file.WriteZeroesAsync(_offset + offset, length, flags, ct);

    public ValueTask DiscardAsync(long offset, long length, CancellationToken ct) =>
        _file.DiscardAsync(_offset + offset, length, ct);

    public ValueTask FlushAsync(CancellationToken ct) => _file.FlushAsync(ct);

    public async ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct)
    {
        var status = await _file.BlockStatusAsync(_offset + offset, length, ct).ConfigureAwait(false);
        return status with { Flags = status.Flags | BlockStatusFlags.Allocated };
    }

    public ValueTask TruncateAsync(long length, CancellationToken ct)
    {
        if (_size is not null)
        {
            throw new BlockException(BlockErrorKind.NotSupported, "Cannot resize fixed-size raw disks");
        }
        if (long.MaxValue - length < _offset)
        {
            throw BlockException.Invalid("Disk size too large for the chosen offset");
        }
        return _file.TruncateAsync(_offset + length, ct);
    }

    // QEMU's raw_child_perm over bdrv_default_perms: a plain raw node is a filter; a window is
    // a data child, which never shares resize. WRITE and RESIZE are taken only when a parent needs them.
    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared)
    {
        var perm = parentPerm & BlockPermissions.Passthrough;
        var shared = (parentShared & BlockPermissions.Passthrough) | (BlockPermissions.All & ~BlockPermissions.Passthrough);
        if (IsWindow)
        {
            shared &= ~BlockPermissions.Resize;
            if ((perm & BlockPermissions.WriteUnchanged) != 0)
            {
                perm |= BlockPermissions.Write;
            }
            if ((perm & BlockPermissions.Write) != 0)
            {
                perm |= BlockPermissions.Resize;
            }
        }
        perm &= ~(BlockPermissions.Write | BlockPermissions.Resize);
        perm |= parentPerm & (BlockPermissions.Write | BlockPermissions.Resize);
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
