using System.Buffers;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

/// <summary>
/// Compressed writes, as QEMU stores them: each cluster is compressed on its own (deflate with
/// a 4 KiB window, or zstd) and packed byte-wise after the previous compressed cluster; a host
/// cluster holding several compressed clusters is referenced once by each. Only unallocated
/// clusters are written; data that does not shrink is written uncompressed.
/// </summary>
public sealed partial class Qcow2Driver
{
    // QEMU's free_byte_offset: the next free byte of the host cluster compressed data is being
    // packed into, or 0 when a new cluster must be started.
    private long _compressedTail;

    private async ValueTask WriteCompressedAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if ((offset & (_clusterSize - 1)) != 0 || ((data.Length & (_clusterSize - 1)) != 0 && offset + data.Length != _size))
        {
            throw BlockException.Invalid($"Compressed writes must cover whole clusters of {_clusterSize} bytes (or end at the end of the image)");
        }
        byte[] cluster = ArrayPool<byte>.Shared.Rent(_clusterSize);
        byte[] packed = ArrayPool<byte>.Shared.Rent(_clusterSize);
        try
        {
            for (int done = 0; done < data.Length; done += _clusterSize)
            {
                var piece = data.Slice(done, Math.Min(_clusterSize, data.Length - done));
                // The last cluster of an image whose size is not a multiple of clusters is padded with zeroes.
                piece.Span.CopyTo(cluster);
                cluster.AsSpan(piece.Length, _clusterSize - piece.Length).Clear();
                int length = Compression.Compress(_header.Compression, cluster.AsSpan(0, _clusterSize), packed.AsSpan(0, _clusterSize));
                if (length < 0)
                {
                    await WriteAsync(offset + done, piece, WriteFlags.None, ct).ConfigureAwait(false);
                    continue;
                }
                await StoreCompressedAsync((offset + done) >> _clusterBits, packed.AsMemory(0, length), ct).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(cluster);
            ArrayPool<byte>.Shared.Return(packed);
        }
    }

    private async ValueTask StoreCompressedAsync(long guestCluster, ReadOnlyMemory<byte> packed, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await BeginWriteAsync(ct).ConfigureAwait(false);
            var (entry, _) = await _map.LookupAsync(guestCluster, ct).ConfigureAwait(false);
            if (IsAllocated(entry) || (entry & TableEntries.Compressed) != 0)
            {
                // As QEMU: compression never overwrites, so a shared host cluster is never rewritten in place.
                throw new BlockException(BlockErrorKind.IoError,
                    $"Compressed writes cannot overwrite allocated data (guest offset {guestCluster << _clusterBits})");
            }
            long host = await AllocateCompressedBytesAsync(packed.Length, ct).ConfigureAwait(false);
            try
            {
                await _file.EnsureLengthAsync(_refcounts.EndCluster << _clusterBits, ct).ConfigureAwait(false);
                await _file.WriteAsync(host, packed, WriteFlags.None, ct).ConfigureAwait(false);
            }
            catch
            {
                // Unmapped, so the reference this write took goes back now (else it leaks).
                await _refcounts.AddAsync(host >> _clusterBits, -1, CancellationToken.None).ConfigureAwait(false);
                throw;
            }
            _decompressedCluster = null;
            await SetMappingAsync(guestCluster, entry, TableEntries.MakeCompressed((ulong)host, packed.Length, _clusterBits), 0, ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    // QEMU's qcow2_alloc_bytes: pack after the previous compressed cluster when it fits (and the
    // refcount can count one more user), else start a new host cluster.
    private async ValueTask<long> AllocateCompressedBytesAsync(int length, CancellationToken ct)
    {
        long tail = _compressedTail;
        long inCluster = tail & (_clusterSize - 1);
        if (tail != 0 && inCluster != 0 && inCluster + length <= _clusterSize)
        {
            long cluster = tail >> _clusterBits;
            if (await _refcounts.GetAsync(cluster, ct).ConfigureAwait(false) is var count && count > 0 && count < _refcounts.MaxRefcount)
            {
                await _refcounts.AddAsync(cluster, 1, ct).ConfigureAwait(false);
                _compressedTail = tail + length;
                return tail;
            }
        }
        long start = await _refcounts.AllocateAsync(1, ct).ConfigureAwait(false);
        _refcounts.MarkUsed(start, 1);
        long offset = start << _clusterBits;
        _compressedTail = offset + length;
        return offset;
    }
}
