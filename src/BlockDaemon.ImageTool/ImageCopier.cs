using System.Buffers;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.ImageTool.Cli;

namespace BlockDaemon.ImageTool;

/// <summary>
/// The copy loop of convert (and commit): walks the sources' maps, skips what the target
/// already reads as zeroes, and writes the rest in chunks of up to 2 MiB, one chunk per worker
/// at a time. With one worker the target is written in order, as qemu-img does without -W.
/// </summary>
public sealed class ImageCopier
{
    private const int ChunkSize = 2 << 20;

    public required BlockChild Target { get; init; }

    /// <summary>The target reads as zeroes where nothing is written, so zero ranges need no write.</summary>
    public bool TargetReadsZero { get; init; }

    /// <summary>Copy only what the top source image allocates (the target's backing file supplies the rest).</summary>
    public bool TopOnly { get; init; }

    public bool Compress { get; init; }

    /// <summary>Blocks of this many bytes that read as zeroes are not written (0: write everything).</summary>
    public int SparseSize { get; init; } = 4096;

    public int Workers { get; init; } = 1;

    /// <summary>
    /// Writes land in the target in guest order even with several workers (qemu-img without -W):
    /// reads run in parallel, each chunk's writes wait for the previous chunk's.
    /// </summary>
    public bool Ordered { get; init; } = true;

    // Chunk n may write once gate n completes; it then opens gate n+1.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, TaskCompletionSource> _gates = new();

    public Progress Progress { get; init; } = new(false, TextWriter.Null);

    /// <summary>
    /// Replaces the status walk: for a range of a source, how far it extends, whether it reads
    /// as zeroes and whether it needs no write (commit asks what lies above its base).
    /// </summary>
    public Func<BlockChild, long, long, CancellationToken, ValueTask<(long Run, bool Zero, bool Skip)>>? Status { get; init; }

    private readonly record struct Chunk(long Sequence, BlockChild Source, long SourceOffset, long TargetOffset, int Length, bool Zero);

    public async ValueTask CopyAsync(IReadOnlyList<BlockChild> sources, CancellationToken ct)
    {
        long total = sources.Sum(s => s.Length);
        long done = 0;
        Progress.Start();
        var chunks = System.Threading.Channels.Channel.CreateBounded<Chunk>(Math.Max(2, Workers * 2));
        var producer = ProduceAsync(sources, chunks.Writer, ct);
        var workers = Enumerable.Range(0, Workers).Select(async _ =>
        {
            var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
            try
            {
                await foreach (var chunk in chunks.Reader.ReadAllAsync(ct).ConfigureAwait(false))
                {
                    await CopyChunkAsync(chunk, buffer, ct).ConfigureAwait(false);
                    long now = Interlocked.Add(ref done, chunk.Length);
                    lock (Progress)
                    {
                        Progress.Report(now, total);
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }).ToList();
        try
        {
            await producer.ConfigureAwait(false);
        }
        finally
        {
            chunks.Writer.TryComplete();
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        await Target.FlushAsync(ct).ConfigureAwait(false);
        Progress.End();
    }

    private async Task ProduceAsync(IReadOnlyList<BlockChild> sources, System.Threading.Channels.ChannelWriter<Chunk> writer, CancellationToken ct)
    {
        try
        {
            long targetBase = 0, sequence = 0;
            foreach (var source in sources)
            {
                long length = source.Length;
                for (long offset = 0; offset < length;)
                {
                    var (run, zero, skip) = await StatusAsync(source, offset, length - offset, ct).ConfigureAwait(false);
                    if (!skip)
                    {
                        for (long at = offset; at < offset + run; at += ChunkSize)
                        {
                            int n = (int)Math.Min(ChunkSize, offset + run - at);
                            await writer.WriteAsync(new Chunk(sequence++, source, at, targetBase + at, n, zero), ct).ConfigureAwait(false);
                        }
                    }
                    offset += run;
                }
                targetBase += length;
            }
        }
        finally
        {
            writer.TryComplete();
        }
    }

    /// <summary>How far the range at <paramref name="offset"/> extends, whether it reads as zeroes, and whether it needs no write at all.</summary>
    private async ValueTask<(long Run, bool Zero, bool Skip)> StatusAsync(BlockChild source, long offset, long length, CancellationToken ct)
    {
        if (Status is { } status)
        {
            return await status(source, offset, length, ct).ConfigureAwait(false);
        }
        if (TopOnly)
        {
            var top = await source.BlockStatusAsync(offset, length, ct).ConfigureAwait(false);
            bool allocated = (top.Flags & BlockStatusFlags.Allocated) != 0;
            bool zero = (top.Flags & BlockStatusFlags.Zero) != 0;
            // Not allocated here: the target's backing file answers for it.
            return (top.Length, zero, !allocated);
        }
        var extent = await BlockMap.GetExtentAsync(source, offset, length, ct).ConfigureAwait(false);
        // -S 0 asks for a fully allocated target: zeroes are copied as data.
        bool zeroRange = extent.Zero && SparseSize > 0;
        return (extent.Length, zeroRange, zeroRange && TargetReadsZero);
    }

    private async ValueTask CopyChunkAsync(Chunk chunk, byte[] buffer, CancellationToken ct)
    {
        if (!Ordered || Workers == 1)
        {
            await ReadChunkAsync(chunk, buffer, ct).ConfigureAwait(false);
            await WriteChunkAsync(chunk, buffer, ct).ConfigureAwait(false);
            return;
        }
        // The next chunk's gate opens whatever happens here, so no worker waits forever on a failed one.
        try
        {
            await ReadChunkAsync(chunk, buffer, ct).ConfigureAwait(false);
            if (chunk.Sequence > 0)
            {
                await Gate(chunk.Sequence).Task.WaitAsync(ct).ConfigureAwait(false);
            }
            await WriteChunkAsync(chunk, buffer, ct).ConfigureAwait(false);
        }
        finally
        {
            _gates.TryRemove(chunk.Sequence, out _);
            Gate(chunk.Sequence + 1).TrySetResult();
        }
    }

    private static async ValueTask ReadChunkAsync(Chunk chunk, byte[] buffer, CancellationToken ct)
    {
        if (!chunk.Zero)
        {
            await chunk.Source.ReadAsync(chunk.SourceOffset, buffer.AsMemory(0, chunk.Length), ct).ConfigureAwait(false);
        }
    }

    private TaskCompletionSource Gate(long sequence) =>
        _gates.GetOrAdd(sequence, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    private async ValueTask WriteChunkAsync(Chunk chunk, byte[] buffer, CancellationToken ct)
    {
        if (chunk.Zero)
        {
            await Target.WriteZeroesAsync(chunk.TargetOffset, chunk.Length, WriteFlags.MayUnmap, ct).ConfigureAwait(false);
            return;
        }
        var data = buffer.AsMemory(0, chunk.Length);
        int block = Compress ? Math.Max(ClusterSize(), 512) : SparseSize;
        if (block <= 0)
        {
            await Target.WriteAsync(chunk.TargetOffset, data, WriteFlags.None, ct).ConfigureAwait(false);
            return;
        }
        // Write runs of blocks that hold data; skip (or zero) blocks that read as zeroes.
        int pos = 0;
        while (pos < chunk.Length)
        {
            int n = Math.Min(block - (int)((chunk.TargetOffset + pos) % block), chunk.Length - pos);
            bool isZero = !data.Span.Slice(pos, n).ContainsAnyExcept((byte)0);
            int end = pos + n;
            while (!Compress && end < chunk.Length)
            {
                int m = Math.Min(block, chunk.Length - end);
                if (data.Span.Slice(end, m).ContainsAnyExcept((byte)0) == isZero)
                {
                    break;
                }
                end += m;
            }
            long at = chunk.TargetOffset + pos;
            if (isZero)
            {
                if (!TargetReadsZero)
                {
                    await Target.WriteZeroesAsync(at, end - pos, WriteFlags.MayUnmap, ct).ConfigureAwait(false);
                }
            }
            else
            {
                bool wholeCluster = Compress && n == block && at % block == 0;
                await Target.WriteAsync(at, data[pos..end], wholeCluster ? WriteFlags.Compressed : WriteFlags.None, ct).ConfigureAwait(false);
            }
            pos = end;
        }
    }

    private int ClusterSize() =>
        (Target.Node.Driver as IImageInfoSource)?.GetImageInfo().ClusterSize ?? 65536;
}
