using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.CopyOnRead;

/// <summary>
/// QEMU's copy-on-read filter: a read of data that the "file" node does not hold itself (it comes
/// from file's backing chain, down to <see cref="Bottom"/> when one is given) is written into
/// file as well, whole clusters at a time, so later reads find it there. block-stream reads
/// every such range through it; guest reads populate file the same way. A cluster is copied
/// under an exclusive range lock that writes through the filter respect, so a guest write can
/// never be overwritten by the old data a copy read just before it.
/// </summary>
public sealed class CopyOnReadDriver : IBlockDriver, IFilterDriver
{
    // QEMU's MAX_BOUNCE_BUFFER is 16 MiB; copies go in pieces of at most this much.
    private const int MaxCopy = 1 << 20;
    private readonly BlockChild _file;
    private readonly RangeLock _locks = new();
    private IReadOnlyList<BlockChild>? _frozen;

    internal CopyOnReadDriver(BlockChild file, BlockNode? bottom)
    {
        _file = file;
        Bottom = bottom;
        // cor_open: with a bottom, the filter relies on the chain from itself down to the bottom
        // staying as it is, so those links are frozen until it closes; a stretch another holder
        // froze, or one running through a job's filter, is refused.
        if (bottom is not null && (bottom == file.Node || BlockGraph.IsInChain(file.Node, bottom)))
        {
            _frozen = BlockGraph.FreezeLinks([file, .. BlockGraph.ChainLinks(file.Node, bottom)]);
        }
        var limits = file.Node.Driver.Limits;
        Limits = new DriverLimits
        {
            MaxTransfer = limits.MaxTransfer,
            SupportsFua = limits.SupportsFua,
            SupportsWriteZeroes = true,
            SupportsDiscard = true,
            SupportsTruncate = true,
        };
    }

    /// <summary>The lowest backing node whose data is copied up; null: the whole chain.</summary>
    public BlockNode? Bottom { get; }

    public BlockChild File => _file;

    public BlockChild? FilteredChild => _file;

    /// <summary>
    /// Copies carry <see cref="WriteFlags.WriteBehind"/> (set by block-stream, whose end flushes
    /// the image anyway): the disk starts on each copy at once.
    /// </summary>
    public bool WriteBehind { get; set; }

    /// <summary>Byte ranges locked by requests in flight (for tests).</summary>
    internal int LockedRanges => _locks.HeldCount;

    public string DriverName => "copy-on-read";

    // QEMU's copy-on-read has no bdrv_reopen_prepare: blockdev-reopen of it is refused.
    public bool SupportsReopen => false;
    public DriverLimits Limits { get; }
    public long Length => _file.Length;
    public string DisplayName => _file.Node.Driver.DisplayName;
    public long? AllocatedBytes => _file.Node.Driver.AllocatedBytes;

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        long end = offset + buffer.Length;
        for (long pos = offset; pos < end;)
        {
            var (copy, length) = await CopiesAsync(pos, end - pos, ct).ConfigureAwait(false);
            var part = buffer.Slice((int)(pos - offset), (int)length);
            if (copy)
            {
                await CopyOnReadAsync(pos, part, ct).ConfigureAwait(false);
            }
            else
            {
                await _file.ReadAsync(pos, part, ct).ConfigureAwait(false);
            }
            pos += length;
        }
    }

    // cor_co_preadv_part: with a bottom, only data allocated between file's backing node and the
    // bottom (included) is copied; without one, anything file does not hold itself.
    private async ValueTask<(bool Copy, long Length)> CopiesAsync(long offset, long length, CancellationToken ct)
    {
        if (Bottom is null)
        {
            return (true, length);
        }
        if (Bottom == _file.Node)
        {
            return (false, length);
        }
        for (var edge = (_file.Node.Driver as IBackingLink)?.Backing; edge is not null; edge = (edge.Node.Driver as IBackingLink)?.Backing)
        {
            if (offset >= edge.Node.Length)
            {
                return (false, length);
            }
            var status = await edge.BlockStatusAsync(offset, Math.Min(length, edge.Node.Length - offset), ct).ConfigureAwait(false);
            length = Math.Min(length, status.Length);
            if ((status.Flags & BlockStatusFlags.Allocated) != 0)
            {
                return (true, length);
            }
            if (edge.Node == Bottom)
            {
                break;
            }
        }
        return (false, length);
    }

    // bdrv_co_do_copy_on_readv: whole clusters of file, each read through file (so from its
    // backing chain) and written back unless file holds it already; zeroes are written as zeroes.
    private async ValueTask CopyOnReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        long cluster = ClusterSize();
        long start = offset / cluster * cluster;
        long end = Math.Min((offset + buffer.Length + cluster - 1) / cluster * cluster, _file.Length);
        using var held = await _locks.AcquireAsync(start, end - start, exclusive: true, ct).ConfigureAwait(false);
        var flags = WriteFlags.CopyOnRead | (WriteBehind ? WriteFlags.WriteBehind : WriteFlags.None);
        for (long pos = start; pos < end;)
        {
            var status = await _file.BlockStatusAsync(pos, Math.Min(end - pos, MaxCopy), ct).ConfigureAwait(false);
            long run = Math.Clamp(status.Length, 1, Math.Min(end - pos, MaxCopy));
            long from = Math.Max(pos, offset);
            long to = Math.Min(pos + run, offset + buffer.Length);
            if ((status.Flags & BlockStatusFlags.Allocated) != 0)
            {
                if (to > from)
                {
                    await _file.ReadAsync(from, buffer.Slice((int)(from - offset), (int)(to - from)), ct).ConfigureAwait(false);
                }
            }
            else
            {
                using var bounce = AlignedBufferPool.Rent((int)run);
                var data = bounce.Memory[..(int)run];
                await _file.ReadAsync(pos, data, ct).ConfigureAwait(false);
                if (data.Span.IndexOfAnyExcept((byte)0) < 0)
                {
                    await _file.WriteZeroesAsync(pos, run, flags, ct).ConfigureAwait(false);
                }
                else
                {
                    await _file.WriteAsync(pos, data, flags, ct).ConfigureAwait(false);
                }
                if (to > from)
                {
                    data.Slice((int)(from - pos), (int)(to - from)).CopyTo(buffer[(int)(from - offset)..]);
                }
            }
            pos += run;
        }
    }

    // bdrv_round_to_clusters: file's cluster size, or its request alignment when it has none.
    private long ClusterSize()
    {
        var size = (_file.Node.Driver as IImageInfoSource)?.GetImageInfo().ClusterSize ?? 0;
        return size > 0 ? size : Math.Max(1, _file.Node.Driver.Limits.RequestAlignment);
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        using var held = await _locks.AcquireAsync(offset, data.Length, exclusive: false, ct).ConfigureAwait(false);
        await _file.WriteAsync(offset, data, flags, ct).ConfigureAwait(false);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct)
    {
        using var held = await _locks.AcquireAsync(offset, length, exclusive: false, ct).ConfigureAwait(false);
        await _file.WriteZeroesAsync(offset, length, flags, ct).ConfigureAwait(false);
    }

    public async ValueTask DiscardAsync(long offset, long length, CancellationToken ct)
    {
        using var held = await _locks.AcquireAsync(offset, length, exclusive: false, ct).ConfigureAwait(false);
        await _file.DiscardAsync(offset, length, ct).ConfigureAwait(false);
    }

    public ValueTask FlushAsync(CancellationToken ct) => _file.FlushAsync(ct);

    public ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct) => _file.BlockStatusAsync(offset, length, ct);

    public ValueTask TruncateAsync(long length, CancellationToken ct) => _file.TruncateAsync(length, ct);

    // cor_child_perm: the parents' needs pass through, and the filter always writes unchanged data.
    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared)
    {
        var perm = (parentPerm & BlockPermissions.Passthrough) | BlockPermissions.WriteUnchanged;
        var shared = (parentShared & BlockPermissions.Passthrough) | (BlockPermissions.All & ~BlockPermissions.Passthrough);
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
        if (_frozen is { } links)
        {
            _frozen = null;
            BlockGraph.Unfreeze(links);
        }
        return ValueTask.CompletedTask;
    }
}
