using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>
/// A qcow2 image opened through our block layer (file → qcow2, backing chain opened from the
/// header) with discard=unmap, as qemu-io opens it. Disposing closes the graph, which flushes.
/// </summary>
internal sealed class OurImage : IAsyncDisposable
{
    /// <summary>Read sizes cycled through by <see cref="ReadAllAsync"/>: odd, tiny, sector, cluster-ish and large.</summary>
    private static readonly int[] ReadChunks = [1 << 20, 3, 65_537, 512, 4095, 131_089, 1, 1000, 2 << 20, 7, 33_280, 262_144];

    private readonly TestGraph _graph;

    private OurImage(TestGraph graph, BlockChild edge, string path)
    {
        _graph = graph;
        Edge = edge;
        Path = path;
    }

    public BlockChild Edge { get; }

    public string Path { get; }

    public long Length => Edge.Length;

    public static async Task<OurImage> OpenAsync(string path, CancellationToken ct, bool readOnly = false)
    {
        // Another test thread starting qemu-img/qemu-io can briefly hold a copy of every open
        // descriptor of this process (between its clone and its exec closing them), and with it
        // the image locks of a graph just closed here. Such a conflict clears within
        // milliseconds; a real one (a lock we leaked) outlasts the retries and fails the test.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await TryOpenAsync(path, readOnly, ct);
            }
            catch (BlockException e) when (e.Kind == BlockErrorKind.PermissionConflict && attempt < 20)
            {
                await Task.Delay(50, ct);
            }
        }
    }

    private static async Task<OurImage> TryOpenAsync(string path, bool readOnly, CancellationToken ct)
    {
        var graph = new TestGraph();
        try
        {
            graph.Graph.RegisterDriver(new Qcow2DriverFactory());
            var options = Opt.Node("qcow2", "q", ("file", Opt.File(path)), ("discard", "unmap"));
            if (readOnly)
            {
                options.Set("read-only", true);
            }
            await graph.AddAsync(options, ct);
            var perm = readOnly ? BlockPermissions.ConsistentRead : BlockPermissions.ConsistentRead | BlockPermissions.Write;
            return new OurImage(graph, graph.Attach("q", perm), path);
        }
        catch
        {
            await graph.DisposeAsync();
            throw;
        }
    }

    /// <summary>The whole virtual disk, read in a cycle of unaligned and aligned chunk sizes.</summary>
    public async Task<byte[]> ReadAllAsync(CancellationToken ct, int chunkRotation = 0)
    {
        var content = new byte[checked((int)Length)];
        long offset = 0;
        for (int i = chunkRotation; offset < content.Length; i++)
        {
            int chunk = (int)Math.Min(ReadChunks[i % ReadChunks.Length], content.Length - offset);
            try
            {
                await Edge.ReadAsync(offset, content.AsMemory((int)offset, chunk), ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new InvalidOperationException($"Our driver failed to read {chunk} bytes at offset {offset} of {Path}: {e.Message}", e);
            }
            offset += chunk;
        }
        return content;
    }

    /// <summary>Our BlockStatus over the whole disk, as consecutive extents.</summary>
    public async Task<IReadOnlyList<(long Offset, long Length, BlockStatusFlags Flags)>> StatusMapAsync(CancellationToken ct)
    {
        var extents = new List<(long, long, BlockStatusFlags)>();
        long offset = 0;
        while (offset < Length)
        {
            var status = await Edge.BlockStatusAsync(offset, Length - offset, ct);
            Assert.True(status.Length > 0, $"BlockStatus at {offset} returned length {status.Length}");
            extents.Add((offset, status.Length, status.Flags));
            offset += status.Length;
        }
        return extents;
    }

    /// <summary>Applies the ops in order, naming the op that fails.</summary>
    public async Task ApplyAsync(IReadOnlyList<WorkloadOp> ops, CancellationToken ct)
    {
        var scratch = new byte[ops.Count == 0 ? 0 : ops.Max(o => o.Kind == WorkloadOpKind.Write ? o.Length : 0)];
        for (int i = 0; i < ops.Count; i++)
        {
            try
            {
                await ops[i].ApplyAsync(Edge, scratch, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new WorkloadFailedException(i, ops[i], e);
            }
        }
    }

    /// <summary>
    /// Applies the ops with up to <paramref name="maxInFlight"/> in flight at once. Only ops whose
    /// byte ranges are disjoint share a batch and a flush runs alone, so the result is the same as
    /// in order, however the requests interleave inside the driver (same cluster, same L2 table,
    /// allocation, COW from backing and compressed clusters all race).
    /// </summary>
    public async Task ApplyConcurrentAsync(IReadOnlyList<WorkloadOp> ops, int maxInFlight, CancellationToken ct)
    {
        var batch = new List<int>();
        async Task RunBatchAsync()
        {
            var tasks = batch.Select(i => RunOneAsync(i)).ToArray();
            batch.Clear();
            await Task.WhenAll(tasks);
        }
        async Task RunOneAsync(int i)
        {
            await Task.Yield();
            var scratch = new byte[ops[i].Kind == WorkloadOpKind.Write ? ops[i].Length : 0];
            try
            {
                await ops[i].ApplyAsync(Edge, scratch, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new WorkloadFailedException(i, ops[i], e);
            }
        }
        for (int i = 0; i < ops.Count; i++)
        {
            var op = ops[i];
            bool conflicts = op.Kind == WorkloadOpKind.Flush || batch.Count >= maxInFlight
                || batch.Any(j => ops[j].Offset < op.End && op.Offset < ops[j].End);
            if (conflicts)
            {
                await RunBatchAsync();
            }
            batch.Add(i);
            if (op.Kind == WorkloadOpKind.Flush)
            {
                await RunBatchAsync();
            }
        }
        await RunBatchAsync();
    }

    public ValueTask DisposeAsync() => _graph.DisposeAsync();
}
