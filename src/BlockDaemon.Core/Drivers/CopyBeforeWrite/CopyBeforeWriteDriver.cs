using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.CopyBeforeWrite;

/// <summary>QAPI OnCbwError: what a failed copy-before-write breaks.</summary>
public enum OnCbwError
{
    /// <summary>The guest write fails; the snapshot stays whole.</summary>
    BreakGuestWrite,
    /// <summary>The guest write goes on; the snapshot is given up (later snapshot reads fail).</summary>
    BreakSnapshot,
}

/// <summary>
/// QEMU's copy-before-write filter: reads pass to the "file" child; a write, write-zeroes or
/// discard first has the old data of every not yet copied cluster it touches copied to the
/// "target" child (<see cref="BlockCopyState"/>), then goes to "file". The target therefore
/// holds the image as it was when the filter was opened, wherever the guest has written since.
/// </summary>
public sealed partial class CopyBeforeWriteDriver : IBlockDriver, IFilterDriver, ISnapshotAccess
{
    private readonly BlockChild _file;
    private readonly BlockChild _target;
    private readonly BlockNode _node;
    private readonly DirtyBitmap _done;
    private readonly DirtyBitmap _access;

    internal CopyBeforeWriteDriver(BlockNode node, BlockChild file, BlockChild target, DirtyBitmap? initial, OnCbwError onError, TimeSpan timeout)
    {
        _node = node;
        _file = file;
        _target = target;
        OnError = onError;
        Timeout = timeout;
        long cluster = CopyClusterSize(target.Node);
        // As in qsd: the copy bitmap sits on the source node, the done and access bitmaps on the
        // filter itself; all anonymous and not recording, so queries show them as qsd does.
        // Built detached: the filter node has no driver (and so no length) until this returns.
        var copy = Detached(cluster, file.Length);
        file.Node.AttachDirtyBitmap(copy);
        if (initial is null)
        {
            copy.Mark(0, file.Length);
        }
        else
        {
            copy.MergeFrom(initial, keepBackup: false);
        }
        _done = Detached(cluster, file.Length);
        node.AttachDirtyBitmap(_done);
        // What a snapshot-access reader may read: what is to be copied, less what it discards.
        _access = Detached(cluster, file.Length);
        node.AttachDirtyBitmap(_access);
        _access.MergeFrom(copy, keepBackup: false);
        State = new BlockCopyState(file, target, copy, _done);
        var limits = file.Node.Driver.Limits;
        Limits = new DriverLimits
        {
            MaxTransfer = limits.MaxTransfer,
            SupportsFua = limits.SupportsFua,
            SupportsWriteZeroes = true,
            SupportsDiscard = true,
        };
    }

    public BlockCopyState State { get; }

    private static DirtyBitmap Detached(long granularity, long length)
    {
        var bitmap = DirtyBitmap.CreateDetached(granularity, length);
        bitmap.Disabled = true;
        return bitmap;
    }

    public OnCbwError OnError { get; }

    /// <summary>How long a guest write waits for its copy (cbw-timeout); zero waits for ever.</summary>
    public TimeSpan Timeout { get; }

    public BlockChild File => _file;

    public BlockChild? FilteredChild => _file;

    public BlockChild Target => _target;

    public string DriverName => "copy-before-write";
    public bool SupportsReopen => false;
    public DriverLimits Limits { get; }
    public long Length => _file.Length;
    public string DisplayName => _file.Node.Driver.DisplayName;
    public long? AllocatedBytes => _file.Node.Driver.AllocatedBytes;

    /// <summary>block_copy_calculate_cluster_size: the target's cluster size, at least 64 KiB.</summary>
    public static long CopyClusterSize(BlockNode target) =>
        Math.Max(64 << 10, (target.Driver as IImageInfoSource)?.GetImageInfo().ClusterSize ?? 0);

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => _file.ReadAsync(offset, buffer, ct);

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        await CopyBeforeAsync(offset, data.Length, ct).ConfigureAwait(false);
        await _file.WriteAsync(offset, data, flags, ct).ConfigureAwait(false);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct)
    {
        await CopyBeforeAsync(offset, length, ct).ConfigureAwait(false);
        await _file.WriteZeroesAsync(offset, length, flags, ct).ConfigureAwait(false);
    }

    public async ValueTask DiscardAsync(long offset, long length, CancellationToken ct)
    {
        await CopyBeforeAsync(offset, length, ct).ConfigureAwait(false);
        await _file.DiscardAsync(offset, length, ct).ConfigureAwait(false);
    }

    public ValueTask FlushAsync(CancellationToken ct) => _file.FlushAsync(ct);

    public ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct) => _file.BlockStatusAsync(offset, length, ct);

    public ValueTask TruncateAsync(long length, CancellationToken ct) =>
        throw new BlockException(BlockErrorKind.NotSupported, "Cannot resize a node while copy-before-write is active on it");

    private async ValueTask CopyBeforeAsync(long offset, long length, CancellationToken ct)
    {
        if (State.Broken)
        {
            return;
        }
        bool copied = false;
        try
        {
            var copy = State.CopyAsync(offset, length, ct).AsTask();
            if (Timeout > TimeSpan.Zero)
            {
                await copy.WaitAsync(Timeout, ct).ConfigureAwait(false);
            }
            else
            {
                await copy.ConfigureAwait(false);
            }
            copied = true;
        }
        catch (Exception e) when (e is BlockException or TimeoutException)
        {
            if (OnError == OnCbwError.BreakGuestWrite)
            {
                throw e as BlockException ?? new BlockException(BlockErrorKind.IoError, Errno.Text(ETimedOut)) { Errno = ETimedOut };
            }
            State.Break();
        }
        await AfterCopyAsync(offset, length, copied).ConfigureAwait(false);
    }

    private const int ETimedOut = 110;

    // cbw_child_perm: the file child passes its parents' needs through and, while the filter has
    // parents, lets nobody else write or resize it (every write must come through here) and reads
    // old data before each write; the target child is written and may be read and written by others.
    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared)
    {
        if (child.Role == "target")
        {
            return (BlockPermissions.Write, BlockPermissions.All & ~BlockPermissions.Resize);
        }
        var perm = parentPerm & BlockPermissions.Passthrough;
        var shared = (parentShared & BlockPermissions.Passthrough) | (BlockPermissions.All & ~BlockPermissions.Passthrough);
        if (_node.Parents.Count > 0)
        {
            if ((perm & BlockPermissions.Write) != 0)
            {
                perm |= BlockPermissions.ConsistentRead;
            }
            shared &= ~(BlockPermissions.Write | BlockPermissions.Resize);
        }
        return (perm, shared);
    }

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public ValueTask DisposeAsync()
    {
        // The bitmaps go with the filter (bdrv_release_dirty_bitmap in cbw_close).
        State.CopyBitmap.Clear(keepBackup: false);
        _file.Node.ReleaseDirtyBitmap(State.CopyBitmap);
        _node.ReleaseDirtyBitmap(_done);
        _node.ReleaseDirtyBitmap(_access);
        State.ReleaseBuffers();
        return ValueTask.CompletedTask;
    }
}
