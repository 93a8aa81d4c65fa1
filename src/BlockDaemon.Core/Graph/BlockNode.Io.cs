using System.Runtime.CompilerServices;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Graph;

// The generic request path, written once for all drivers (QEMU's block/io.c): bounds,
// read-only, alignment by read-modify-write, splitting at max-transfer, tracking for drain,
// write thresholds, zero detection, emulation of what the driver lacks, statistics.
public sealed partial class BlockNode
{
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    internal async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct, BlockChild? via = null)
    {
        CheckRange(offset, buffer.Length);
        if (buffer.Length == 0)
        {
            return;
        }
        var request = await Requests.BeginAsync(offset, buffer.Length, serialising: false, ct).ConfigureAwait(false);
        if (Retargeted(via, request) is { } target)
        {
            await target.ReadAsync(offset, buffer, ct, via).ConfigureAwait(false);
            return;
        }
        using var tracked = request;
        try
        {
            int align = Driver.Limits.RequestAlignment;
            if (IsAligned(offset, buffer.Length, align))
            {
                await ReadSplitAsync(offset, buffer, ct).ConfigureAwait(false);
            }
            else
            {
                long start = AlignDown(offset, align);
                int span = checked((int)(AlignUp(offset + buffer.Length, align) - start));
                using var bounce = AlignedBufferPool.Rent(span);
                await ReadSplitAsync(start, bounce.Memory, ct).ConfigureAwait(false);
                bounce.Memory.Slice((int)(offset - start), buffer.Length).CopyTo(buffer);
            }
            Statistics.Read(buffer.Length);
        }
        catch (Exception) when (Count())
        {
            throw;
        }
        catch (BlockException e) when (IsUnsignalledCorruption(e))
        {
            await SignalCorruptionAsync(e).ConfigureAwait(false);
            throw;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    internal async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct, BlockChild? via = null)
    {
        CheckWritable();
        CheckRange(offset, data.Length);
        if (data.Length == 0)
        {
            return;
        }
        if ((flags & WriteFlags.Compressed) != 0 && !Driver.Limits.SupportsCompressedWrites)
        {
            throw new BlockException(BlockErrorKind.NotSupported, $"Compression is not supported for this drive {NodeName}");
        }
        if ((flags & WriteFlags.Compressed) == 0 && Common.DetectZeroes != DetectZeroes.Off && data.Span.IndexOfAnyExcept((byte)0) < 0)
        {
            var zeroFlags = flags | (Common.DetectZeroes == DetectZeroes.Unmap ? WriteFlags.MayUnmap : WriteFlags.None);
            await WriteZeroesAsync(offset, data.Length, zeroFlags, ct, via).ConfigureAwait(false);
            return;
        }
        try
        {
            if (await WriteDataAsync(offset, data, flags, ct, via).ConfigureAwait(false) is { } target)
            {
                await target.WriteAsync(offset, data, flags, ct, via).ConfigureAwait(false);
                return;
            }
            Statistics.Write(data.Length);
            NoteWritten();
        }
        catch (Exception) when (Count())
        {
            throw;
        }
        catch (BlockException e) when (IsUnsignalledCorruption(e))
        {
            await SignalCorruptionAsync(e).ConfigureAwait(false);
            throw;
        }
    }

    // Tracks and writes data as given (no zero detection): aligned directly, unaligned by
    // read-modify-write under a serialising request.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    // Returns the node to send the whole write to instead, when the edge it came through was
    // retargeted while this node held it drained (nothing was written here then).
    private async ValueTask<BlockNode?> WriteDataAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct, BlockChild? via = null)
    {
        int align = Driver.Limits.RequestAlignment;
        bool aligned = IsAligned(offset, data.Length, align);
        long start = AlignDown(offset, align);
        int span = checked((int)(AlignUp(offset + data.Length, align) - start));
        // An unaligned write rewrites whole alignment blocks, so it serialises over all of them.
        var request = await Requests.BeginAsync(start, span, serialising: !aligned, ct).ConfigureAwait(false);
        if (Retargeted(via, request) is { } target)
        {
            return target;
        }
        using var tracked = request;
        // QEMU counts the padded request: an unaligned write raises the mark to its alignment block's end.
        flags = NoteWriteReached(start + span, flags);
        CheckWriteThreshold(offset, data.Length);
        MarkDirtyBitmaps(start, span);
        if (aligned)
        {
            await WriteSplitAsync(offset, data, flags, ct).ConfigureAwait(false);
            NotifyWritten(offset, data.Length);
            return null;
        }
        using var bounce = AlignedBufferPool.Rent(span);
        await ReadHeadAndTailAsync(start, bounce.Memory, align, ct).ConfigureAwait(false);
        data.CopyTo(bounce.Memory[(int)(offset - start)..]);
        await WriteSplitAsync(start, bounce.Memory, flags, ct).ConfigureAwait(false);
        NotifyWritten(offset, data.Length);
        return null;
    }

    internal async ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct, BlockChild? via = null)
    {
        CheckWritable();
        CheckRange(offset, length);
        if (length == 0)
        {
            return;
        }
        int align = Driver.Limits.RequestAlignment;
        if (!Driver.Limits.SupportsWriteZeroes || !IsAligned(offset, length, align))
        {
            if ((flags & WriteFlags.NoFallback) != 0)
            {
                throw new BlockException(BlockErrorKind.NotSupported, $"Node '{NodeName}' cannot write zeroes without writing data");
            }
            await WriteZeroBuffersAsync(offset, length, flags, via, ct).ConfigureAwait(false);
            return;
        }
        var request = await Requests.BeginAsync(offset, length, serialising: false, ct).ConfigureAwait(false);
        if (Retargeted(via, request) is { } target)
        {
            await target.WriteZeroesAsync(offset, length, flags, ct, via).ConfigureAwait(false);
            return;
        }
        using var tracked = request;
        flags = NoteWriteReached(offset + length, flags);
        CheckWriteThreshold(offset, length);
        MarkDirtyBitmaps(offset, length);
        // As in qsd, 'discard' gates unmapping only for a parent node's request (a format driver
        // zeroing its file); a user's request (an export, a job) may still release clusters.
        if (!Common.DiscardUnmap && via?.Parent is BlockNode)
        {
            flags &= ~WriteFlags.MayUnmap;
        }
        try
        {
            RaiseOwnDebugEvent(DebugEvent.PwritevZero);
            await Driver.WriteZeroesAsync(offset, length, flags, ct).ConfigureAwait(false);
            RaiseOwnDebugEvent(DebugEvent.PwritevDone);
            NotifyWritten(offset, length);
        }
        catch (BlockException e) when (IsUnsignalledCorruption(e))
        {
            await SignalCorruptionAsync(e).ConfigureAwait(false);
            throw;
        }
        Statistics.Write(length);
        NoteWritten();
    }

    internal async ValueTask DiscardAsync(long offset, long length, CancellationToken ct, BlockChild? via = null)
    {
        CheckWritable();
        CheckRange(offset, length);
        int align = Driver.Limits.RequestAlignment;
        // Discard is advisory: the unaligned edges and drivers without discard just keep their data.
        long start = AlignUp(offset, align);
        long end = AlignDown(offset + length, align);
        if (!Common.DiscardUnmap || !Driver.Limits.SupportsDiscard)
        {
            return;
        }
        // As qsd: a discard the node would pass on marks its whole range, even edges it keeps.
        if (end <= start)
        {
            MarkDirtyBitmaps(offset, length);
            return;
        }
        var request = await Requests.BeginAsync(start, end - start, serialising: false, ct).ConfigureAwait(false);
        if (Retargeted(via, request) is { } target)
        {
            await target.DiscardAsync(offset, length, ct, via).ConfigureAwait(false);
            return;
        }
        using var tracked = request;
        // Marked once admitted, like writes: a discard held by a drain (a checkpoint transaction)
        // takes effect after that point, so it belongs to the bitmaps that record after it.
        MarkDirtyBitmaps(offset, length);
        try
        {
            await Driver.DiscardAsync(start, end - start, ct).ConfigureAwait(false);
            NotifyWritten(start, end - start);
        }
        catch (BlockException e) when (IsUnsignalledCorruption(e))
        {
            await SignalCorruptionAsync(e).ConfigureAwait(false);
            throw;
        }

        Statistics.Discard();
        NoteWritten();
    }

    internal async ValueTask FlushAsync(CancellationToken ct, BlockChild? via = null)
    {
        if (Common.CacheNoFlush)
        {
            RaiseFlushEvents(toDisk: false);
            return;
        }
        var request = await Requests.BeginAsync(0, 0, serialising: false, ct).ConfigureAwait(false);
        if (Retargeted(via, request) is { } target)
        {
            await target.FlushAsync(ct, via).ConfigureAwait(false);
            return;
        }
        using var tracked = request;
        long generation = RaiseFlushEvents(toDisk: true);
        try
        {
            await Driver.FlushAsync(ct).ConfigureAwait(false);
            NoteFlushed(generation);
        }
        catch (BlockException e) when (IsUnsignalledCorruption(e))
        {
            await SignalCorruptionAsync(e).ConfigureAwait(false);
            throw;
        }
        Statistics.Flush();
    }

    internal async ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct, BlockChild? via = null)
    {
        CheckRange(offset, length);
        if (length == 0)
        {
            return new BlockStatus(0, BlockStatusFlags.None);
        }
        var request = await Requests.BeginAsync(offset, length, serialising: false, ct).ConfigureAwait(false);
        if (Retargeted(via, request) is { } target)
        {
            return await target.BlockStatusAsync(offset, length, ct, via).ConfigureAwait(false);
        }
        using var tracked = request;
        BlockStatus status;
        try
        {
            status = await Driver.BlockStatusAsync(offset, length, ct).ConfigureAwait(false);
        }
        catch (BlockException e) when (IsUnsignalledCorruption(e))
        {
            await SignalCorruptionAsync(e).ConfigureAwait(false);
            throw;
        }

        if (status.HostOffset >= 0 && status.HostNode is null)
        {
            // A protocol driver maps onto itself.
            status = status with { HostNode = this };
        }
        if (status.Length <= 0 || status.Length > length)
        {
            status = status with { Length = length };
        }
        return await RefineWithHostAsync(status, ct).ConfigureAwait(false);
    }

    // As QEMU's bdrv_co_block_status: only where the driver asks (Recurse, a metadata-preallocated
    // qcow2) is the node below a data range consulted, and its holes, or its end, then read as
    // zeroes. Everywhere else data stays data whatever the host file holds under it, which is
    // what qsd's NBD maps and qemu-img map report.
    private async ValueTask<BlockStatus> RefineWithHostAsync(BlockStatus status, CancellationToken ct)
    {
        if ((status.Flags & BlockStatusFlags.Recurse) == 0)
        {
            return status;
        }
        status = status with { Flags = status.Flags & ~BlockStatusFlags.Recurse };
        if (status.HostNode is not { } host || host == this || status.HostOffset < 0
            || (status.Flags & (BlockStatusFlags.Data | BlockStatusFlags.Zero)) != BlockStatusFlags.Data)
        {
            return status;
        }
        long hostLength = host.Length;
        if (status.HostOffset >= hostLength)
        {
            // A format may map bytes past the end of its file; they read as zeroes.
            return status with { Flags = status.Flags | BlockStatusFlags.Zero };
        }
        long span = Math.Min(status.Length, hostLength - status.HostOffset);
        BlockStatus below;
        try
        {
            below = await host.BlockStatusAsync(status.HostOffset, span, ct).ConfigureAwait(false);
        }
        catch (BlockException)
        {
            // The answer below is extra information; without it the range is still data.
            return status;
        }
        if (below.Length <= 0)
        {
            return status;
        }
        bool reachesEnd = status.HostOffset + below.Length >= hostLength;
        if (reachesEnd && (below.Flags & BlockStatusFlags.Zero) != 0)
        {
            // A hole up to the file's end reads as zeroes beyond it too: the whole range is zero.
            return status with { Flags = status.Flags | BlockStatusFlags.Zero };
        }
        return status with { Length = below.Length, Flags = status.Flags | (below.Flags & BlockStatusFlags.Zero) };
    }

    internal async ValueTask TruncateAsync(long length, CancellationToken ct)
    {
        if (length < 0)
        {
            throw BlockException.Invalid("Image size cannot be negative");
        }
        if (!Driver.Limits.SupportsTruncate)
        {
            throw new BlockException(BlockErrorKind.NotSupported, "Image format driver does not support resize");
        }
        if (ReadOnly)
        {
            throw new BlockException(BlockErrorKind.ReadOnly, "Image is read-only");
        }
        await Requests.DrainAsync(ct).ConfigureAwait(false);
        try
        {
            CheckNotCorrupted();
            await Driver.TruncateAsync(length, ct).ConfigureAwait(false);
            ResizeDirtyBitmaps(length);
            if (Driver is Bitmaps.IPersistentBitmapStore store)
            {
                await store.ResizedAsync(ct).ConfigureAwait(false);
            }
        }
        catch (BlockException e) when (IsUnsignalledCorruption(e))
        {
            await SignalCorruptionAsync(e).ConfigureAwait(false);
            throw;
        }
        finally
        {
            Requests.EndDrain();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadSplitAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        int max = Driver.Limits.MaxTransfer;
        for (int done = 0; done < buffer.Length;)
        {
            int chunk = Math.Min(max, buffer.Length - done);
            await Driver.ReadAsync(offset + done, buffer.Slice(done, chunk), ct).ConfigureAwait(false);
            done += chunk;
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteSplitAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        bool emulateFua = (flags & WriteFlags.Fua) != 0 && !Driver.Limits.SupportsFua;
        var driverFlags = emulateFua ? flags & ~WriteFlags.Fua : flags;
        int max = Driver.Limits.MaxTransfer;
        RaiseOwnDebugEvent(DebugEvent.Pwritev);
        for (int done = 0; done < data.Length;)
        {
            int chunk = Math.Min(max, data.Length - done);
            await Driver.WriteAsync(offset + done, data.Slice(done, chunk), driverFlags, ct).ConfigureAwait(false);
            done += chunk;
        }
        RaiseOwnDebugEvent(DebugEvent.PwritevDone);
        if (emulateFua && !Common.CacheNoFlush)
        {
            await Driver.FlushAsync(ct).ConfigureAwait(false);
        }
    }

    // Fills the first and last alignment blocks of an unaligned write's bounce buffer with what is on disk.
    private async ValueTask ReadHeadAndTailAsync(long start, Memory<byte> bounce, int align, CancellationToken ct)
    {
        RaiseOwnDebugEvent(DebugEvent.PwritevRmwHead);
        await ReadClampedAsync(start, bounce[..align], ct).ConfigureAwait(false);
        RaiseOwnDebugEvent(DebugEvent.PwritevRmwAfterHead);
        if (bounce.Length > align)
        {
            RaiseOwnDebugEvent(DebugEvent.PwritevRmwTail);
            await ReadClampedAsync(start + bounce.Length - align, bounce[^align..], ct).ConfigureAwait(false);
            RaiseOwnDebugEvent(DebugEvent.PwritevRmwAfterTail);
        }
    }


    // The last alignment block may extend past the node's end; what lies beyond reads as zeroes.
    private async ValueTask ReadClampedAsync(long offset, Memory<byte> block, CancellationToken ct)
    {
        long available = Math.Max(0, Length - offset);
        if (available >= block.Length)
        {
            await Driver.ReadAsync(offset, block, ct).ConfigureAwait(false);
            return;
        }
        block.Span.Clear();
        if (available > 0)
        {
            await Driver.ReadAsync(offset, block, ct).ConfigureAwait(false);
            block.Span[(int)available..].Clear();
        }
    }

    private async ValueTask WriteZeroBuffersAsync(long offset, long length, WriteFlags flags, BlockChild? via, CancellationToken ct)
    {
        const int chunkSize = 1 << 20;
        using var zeroes = AlignedBufferPool.Rent((int)Math.Min(chunkSize, length));
        zeroes.Memory.Span.Clear();
        var plain = flags & ~(WriteFlags.MayUnmap | WriteFlags.NoFallback);
        for (long done = 0; done < length;)
        {
            int chunk = (int)Math.Min(chunkSize, length - done);
            // Straight to the data path: zero detection would send these back to write-zeroes.
            if (await WriteDataAsync(offset + done, zeroes.Memory[..chunk], plain, ct, via).ConfigureAwait(false) is { } target)
            {
                await target.WriteZeroesAsync(offset + done, length - done, flags, ct, via).ConfigureAwait(false);
                return;
            }
            done += chunk;
        }
    }

    // A request that came through an edge the graph retargeted while this node was drained (it
    // waited in the tracker meanwhile) belongs to the edge's new node: it ends here and is
    // handed over. Registered requests are always checked after registration, and edges are
    // retargeted only while the node is drained, so none can slip through to the old node.
    private BlockNode? Retargeted(BlockChild? via, TrackedRequest request)
    {
        if (via is null || ReferenceEquals(via.Node, this))
        {
            return null;
        }
        request.Dispose();
        return via.Node;
    }

    // Returns the flags the driver gets: CopyOnRead only concerns this node's accounting.
    private WriteFlags NoteWriteReached(long end, WriteFlags flags)
    {
        if ((flags & WriteFlags.CopyOnRead) == 0)
        {
            Statistics.WriteReached(end);
        }
        return flags & ~WriteFlags.CopyOnRead;
    }

    private void CheckWriteThreshold(long offset, long length)
    {
        long threshold = WriteThreshold;
        if (threshold > 0 && offset + length > threshold
            && Interlocked.CompareExchange(ref _writeThreshold, 0, threshold) == threshold)
        {
            Graph.Events.WriteThresholdExceeded(NodeName, offset + length - threshold, threshold);
        }
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Length - length)
        {
            ThrowHelper.OutOfRange(NodeName, offset, length, Length);
        }
    }

    private void CheckWritable()
    {
        if (ReadOnly)
        {
            ThrowHelper.ReadOnly(NodeName);
        }
        CheckNotCorrupted();
    }

    private bool Count()
    {
        Statistics.Failed();
        return false;
    }

    private static bool IsAligned(long offset, long length, int align) => ((offset | length) & (align - 1)) == 0;

    private static long AlignDown(long value, int align) => value & ~(long)(align - 1);

    private static long AlignUp(long value, int align) => (value + align - 1) & ~(long)(align - 1);
}
