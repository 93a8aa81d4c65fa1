using System.Runtime.CompilerServices;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using Microsoft.Win32.SafeHandles;

namespace BlockDaemon.Core.Drivers.File;

/// <summary>
/// A host file through one <see cref="SafeFileHandle"/> and positional I/O (thread-safe, no
/// shared file position). The size is rounded up to 512 bytes like QEMU's; what lies past the
/// real end of the file reads as zeroes.
/// </summary>
public sealed partial class FileDriver : IBlockDriver, IDiscardStatisticsSource
{
    private const int SectorSize = 512;
    // Up to this size a WriteFlags.Inline write is done on the caller's thread: a copy into the
    // page cache of a few pages is cheaper than the two thread hand-offs of an offloaded write.
    private const int InlineWriteLimit = 64 << 10;
    // Replaced only by ReopenAsync, with the node drained.
    private SafeFileHandle _handle;
    private int _fd;
    private ImageLocks? _locks;
    private BlockPermissions _perm;
    private BlockPermissions _shared = BlockPermissions.All;
    private long _length;
    // QEMU's write_gen/flushed_gen: a flush with no write, zeroing, discard or resize completed
    // since the last successful one has nothing to make durable and skips fdatasync.
    private long _writeGeneration;
    private long _flushedGeneration;

    internal FileDriver(SafeFileHandle handle, string filename, ImageLocks? locks, int alignment)
    {
        _handle = handle;
        _fd = (int)handle.DangerousGetHandle();
        _locks = locks;
        DisplayName = filename;
        Limits = new DriverLimits
        {
            RequestAlignment = alignment,
            SupportsWriteZeroes = true,
            SupportsDiscard = true,
            SupportsTruncate = true,
        };
        _length = RoundUp(RandomAccess.GetLength(handle));
    }

    public string DriverName => "file";
    public DriverLimits Limits { get; }
    public long Length => Interlocked.Read(ref _length);
    public string DisplayName { get; }
    public long? AllocatedBytes => Native.AllocatedBytes(_fd);
    private bool Direct => Limits.RequestAlignment > 1;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        if (Direct && !IsMemoryAligned(buffer))
        {
            using var bounce = AlignedBufferPool.Rent(buffer.Length);
            await ReadCoreAsync(offset, bounce.Memory, ct).ConfigureAwait(false);
            bounce.Memory.CopyTo(buffer);
            return;
        }
        await ReadCoreAsync(offset, buffer, ct).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        try
        {
            await WriteCoreAsync(offset, data, flags, ct).ConfigureAwait(false);
        }
        finally
        {
            // Counted even when it failed: part of it may have reached the page cache.
            Written();
        }
    }

    private void Written() => Interlocked.Increment(ref _writeGeneration);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteCoreAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        try
        {
            if (Direct && !IsMemoryAligned(data))
            {
                using var bounce = AlignedBufferPool.Rent(data.Length);
                data.CopyTo(bounce.Memory);
                await RandomAccess.WriteAsync(_handle, bounce.Memory, offset, ct).ConfigureAwait(false);
                return;
            }
            if ((flags & WriteFlags.Inline) != 0 && !Direct && data.Length <= InlineWriteLimit)
            {
                ct.ThrowIfCancellationRequested();
                RandomAccess.Write(_handle, data.Span, offset);
            }
            else
            {
                await RandomAccess.WriteAsync(_handle, data, offset, ct).ConfigureAwait(false);
            }
            if ((flags & WriteFlags.WriteBehind) != 0)
            {
                StartWriteBack(offset, data.Length);
            }
        }
        catch (IOException e)
        {
            throw IoError("write", e);
        }
    }

    // Only starts the write-back of the range (the disk works while the copy goes on); a file
    // system that cannot is no different from one that was not asked.
    private void StartWriteBack(long offset, long length)
    {
        if (!Direct)
        {
            Native.SyncFileRange(_fd, offset, length, Native.SyncFileRangeWrite);
        }
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct)
    {
        int mode = (flags & WriteFlags.MayUnmap) != 0 ? Native.FallocPunchHole | Native.FallocKeepSize : Native.FallocZeroRange;
        int result = Native.Fallocate(_fd, mode, offset, length);
        Written();
        if (result == 0)
        {
            return;
        }
        int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
        if (errno != Native.EOpNotSupp)
        {
            throw Errno("write zeroes", errno);
        }
        if ((flags & WriteFlags.NoFallback) != 0)
        {
            throw new BlockException(BlockErrorKind.NotSupported, "The file system cannot write zeroes efficiently");
        }
        using var zeroes = AlignedBufferPool.Rent((int)Math.Min(length, 1 << 20));
        zeroes.Memory.Span.Clear();
        for (long done = 0; done < length;)
        {
            int chunk = (int)Math.Min(zeroes.Memory.Length, length - done);
            await WriteAsync(offset + done, zeroes.Memory[..chunk], WriteFlags.None, ct).ConfigureAwait(false);
            done += chunk;
        }
    }

    public DiscardStatistics Discards { get; } = new();

    public ValueTask DiscardAsync(long offset, long length, CancellationToken ct)
    {
        // Best effort: a file system without hole punching keeps the data, which discard allows.
        // QEMU 7.2 still counts that as a failed discard (raw_account_discard sees -ENOTSUP).
        bool punched = Native.Fallocate(_fd, Native.FallocPunchHole | Native.FallocKeepSize, offset, length) == 0;
        Discards.Record(length, punched);
        Written();
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken ct)
    {
        // Everything completed before this point is what the flush must cover.
        long generation = Interlocked.Read(ref _writeGeneration);
        if (generation == Interlocked.Read(ref _flushedGeneration))
        {
            return ct.IsCancellationRequested ? ValueTask.FromCanceled(ct) : ValueTask.CompletedTask;
        }
        // fdatasync blocks; run it off the caller's thread so a slow disk does not stall the loop.
        return new ValueTask(Task.Run(() =>
        {
            if (Native.Fdatasync(_fd) != 0)
            {
                throw Errno("flush", System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
            }
            for (long flushed = Interlocked.Read(ref _flushedGeneration); flushed < generation;
                flushed = Interlocked.Read(ref _flushedGeneration))
            {
                if (Interlocked.CompareExchange(ref _flushedGeneration, generation, flushed) == flushed)
                {
                    break;
                }
            }
        }, ct));
    }

    // Holes count as allocated, as QEMU's generic layer counts any DATA or ZERO answer of a
    // protocol node: only formats with a backing file can leave a range to a lower layer.
    public ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct)
    {
        long fileSize = RandomAccess.GetLength(_handle);
        if (offset >= fileSize)
        {
            return ValueTask.FromResult(new BlockStatus(length, BlockStatusFlags.Zero | BlockStatusFlags.Allocated));
        }
        long data = Native.Lseek(_fd, offset, Native.SeekData);
        if (data < 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            // ENXIO: no data after offset (a trailing hole); anything else: assume data.
            // A hole maps onto the file itself too (QEMU's file-posix reports OFFSET_VALID for it).
            return ValueTask.FromResult(errno == Native.ENxio
                ? new BlockStatus(length, BlockStatusFlags.Zero | BlockStatusFlags.Allocated, offset)
                : new BlockStatus(length, BlockStatusFlags.Data | BlockStatusFlags.Allocated, offset));
        }
        if (data > offset)
        {
            return ValueTask.FromResult(new BlockStatus(Math.Min(length, data - offset), BlockStatusFlags.Zero | BlockStatusFlags.Allocated, offset));
        }
        long hole = Native.Lseek(_fd, offset, Native.SeekHole);
        long dataEnd = hole > offset ? hole : offset + length;
        return ValueTask.FromResult(new BlockStatus(Math.Min(length, dataEnd - offset), BlockStatusFlags.Data | BlockStatusFlags.Allocated, offset));
    }

    public ValueTask TruncateAsync(long length, CancellationToken ct)
    {
        try
        {
            bool wasEmpty = RandomAccess.GetLength(_handle) == 0;
            RandomAccess.SetLength(_handle, length);
            if (wasEmpty && length > 0)
            {
                // Like QEMU: allocate the first block of a file grown from nothing, so that
                // O_DIRECT alignment probing finds real data there.
                using var zeroes = AlignedBufferPool.Rent((int)Math.Min(length, AlignedBuffer.Alignment));
                zeroes.Memory.Span.Clear();
                RandomAccess.Write(_handle, zeroes.Memory.Span, 0);
            }
        }
        catch (IOException e)
        {
            throw new BlockException(BlockErrorKind.IoError, $"Failed to resize the file: {e.Message}", e);
        }
        finally
        {
            Written();
        }
        Interlocked.Exchange(ref _length, RoundUp(length));
        return ValueTask.CompletedTask;
    }

    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared) =>
        (BlockPermissions.None, BlockPermissions.All);

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared) => _locks?.Prepare(perm, shared, _perm, _shared);

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
        _locks?.Commit(perm, shared);
        _perm = perm;
        _shared = shared;
    }

    public ValueTask DisposeAsync()
    {
        // Closing the descriptor drops every OFD lock it holds.
        _handle.Dispose();
        return ValueTask.CompletedTask;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadCoreAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        try
        {
            int done = 0;
            while (done < buffer.Length)
            {
                int n = await RandomAccess.ReadAsync(_handle, buffer[done..], offset + done, ct).ConfigureAwait(false);
                if (n == 0)
                {
                    buffer.Span[done..].Clear();
                    return;
                }
                done += n;
            }
        }
        catch (IOException e)
        {
            throw IoError("read", e);
        }
    }

    private static unsafe bool IsMemoryAligned(ReadOnlyMemory<byte> memory)
    {
        using var pin = memory.Pin();
        return ((nint)pin.Pointer & (AlignedBuffer.Alignment - 1)) == 0;
    }

    private BlockException IoError(string operation, IOException e)
    {
        bool noSpace = e.HResult == Native.ENoSpc || e.Message.Contains("No space", StringComparison.Ordinal);
        return new BlockException(noSpace ? BlockErrorKind.NoSpace : BlockErrorKind.IoError,
            $"Failed to {operation} '{DisplayName}': {e.Message}", e);
    }

    private BlockException Errno(string operation, int errno) =>
        new(errno == Native.ENoSpc ? BlockErrorKind.NoSpace : BlockErrorKind.IoError,
            $"Failed to {operation} '{DisplayName}': {Native.ErrorText(errno)}") { Errno = errno };

    private static long RoundUp(long length) => (length + SectorSize - 1) & ~(long)(SectorSize - 1);
}
