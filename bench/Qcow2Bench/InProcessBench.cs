using System.Diagnostics;
using System.Globalization;
using System.Text;
using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Bench.Qcow2;

/// <summary>
/// blockd's side: the graph FMT -> file built in this process, requests issued through a user
/// edge exactly as an export would, DEPTH in flight, in qemu-img bench's order.
/// </summary>
internal sealed class InProcessBench(BenchOptions o, TextWriter output)
{
    private const string TopNode = "bench0";
    private const long MaxScratchCopy = 256L << 20;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public async Task RunAsync(CancellationToken ct)
    {
        var rssAtStart = ProcStatus.Read();

        int warmupCount = o.Warmup ?? Math.Min(o.Count, 10_000);
        string warmupNote = "no warm-up";
        if (warmupCount > 0)
        {
            warmupNote = await WarmUpAsync(warmupCount, ct).ConfigureAwait(false);
            // Let the tiered JIT finish compiling what the warm-up made hot before timing.
            await Task.Delay(500, ct).ConfigureAwait(false);
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var rssBeforeOpen = ProcStatus.Read();

        long openStart = Stopwatch.GetTimestamp();
        var session = await Session.OpenAsync(o, o.Filename, ct).ConfigureAwait(false);
        TimeSpan openTime = Stopwatch.GetElapsedTime(openStart);
        TimeSpan closeTime;
        Measurement m;
        try
        {
            long[] offsets = OffsetPlan.Build(o, session.Edge.Length, o.Count);
            if (!o.Quiet)
            {
                output.WriteLine(string.Create(Inv,
                    $"Sending {o.Count} {(o.Write ? "write" : "read")} requests, {o.BufferSize} bytes each, {o.Depth} in parallel " +
                    $"(starting at offset {o.Offset}, {(o.Pattern == AccessPattern.Seq ? $"step size {o.EffectiveStep}" : $"random order, seed {o.Seed}")}" +
                    $"{(o.Batch ? ", in batches" : "")})"));
            }
            session.Tap?.Reset();
            m = await MeasureAsync(session, offsets, ct).ConfigureAwait(false);
            output.WriteLine(string.Create(Inv, $"Run completed in {m.Elapsed.TotalSeconds:F3} seconds."));

            if (o.Verify is not null || o.ReadBack)
            {
                await VerifyAfterAsync(session, offsets, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            long closeStart = Stopwatch.GetTimestamp();
            await session.DisposeAsync().ConfigureAwait(false);
            closeTime = Stopwatch.GetElapsedTime(closeStart);
        }
        var rssEnd = ProcStatus.Read();
        Report(m, openTime, closeTime, warmupNote, rssAtStart, rssBeforeOpen, rssEnd);
    }

    private async Task<string> WarmUpAsync(int count, CancellationToken ct)
    {
        string target = o.Filename;
        string note = "on the image itself";
        bool scratch = false;
        if (o.Write)
        {
            long size = new FileInfo(o.Filename).Length;
            if (size <= MaxScratchCopy)
            {
                // A write warm-up must not allocate in the image that is then measured fresh.
                string dir = Path.GetDirectoryName(Path.GetFullPath(o.Filename))!;
                target = Path.Combine(dir, $".{Path.GetFileName(o.Filename)}.warmup-{Environment.ProcessId}");
                File.Copy(o.Filename, target, overwrite: true);
                scratch = true;
                note = "on a scratch copy";
            }
            else
            {
                note = "on the image itself (too large to copy)";
            }
        }
        long start = Stopwatch.GetTimestamp();
        try
        {
            await using var session = await Session.OpenAsync(o, target, ct).ConfigureAwait(false);
            long[] offsets = OffsetPlan.Build(o, session.Edge.Length, count);
            await RunPassAsync(session.Edge, offsets, o.Write, latencies: null, verify: o.Write ? null : o.Verify, ct).ConfigureAwait(false);
        }
        finally
        {
            if (scratch)
            {
                File.Delete(target);
            }
        }
        return string.Create(Inv, $"warm-up {count} requests {note} in {Stopwatch.GetElapsedTime(start).TotalSeconds:F2} s");
    }

    private async Task<Measurement> MeasureAsync(Session session, long[] offsets, CancellationToken ct)
    {
        var nodesBefore = NodeCounters.Take(session.Graph);
        var latencies = new long[offsets.Length];
        using var sampler = o.Profile ? new InFlightSampler(session.Graph) : null;

        var gcBefore = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        long allocBefore = GC.GetTotalAllocatedBytes(precise: true);
        long itemsBefore = ThreadPool.CompletedWorkItemCount;
        long contentionBefore = Monitor.LockContentionCount;
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();

        await RunPassAsync(session.Edge, offsets, o.Write, latencies, verify: null, ct).ConfigureAwait(false);

        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        long contention = Monitor.LockContentionCount - contentionBefore;
        long items = ThreadPool.CompletedWorkItemCount - itemsBefore;
        long alloc = GC.GetTotalAllocatedBytes(precise: true) - allocBefore;
        var gc = (GC.CollectionCount(0) - gcBefore.Item1, GC.CollectionCount(1) - gcBefore.Item2, GC.CollectionCount(2) - gcBefore.Item3);
        sampler?.Stop();

        return new Measurement(elapsed, cpu, alloc, gc, items, contention, ThreadPool.ThreadCount, latencies,
            NodeCounters.Take(session.Graph).Select(after => after.Minus(nodesBefore)).ToList(),
            session.Tap?.Snapshot().ToList(), session.Tap?.MaxInFlight ?? 0, sampler?.Averages());
    }

    /// <summary>
    /// One pass: continuous (a new request as soon as one completes, qemu-img bench's loop) or
    /// in batches of DEPTH. Offsets are taken in order, like qemu-img bench submits them.
    /// </summary>
    private async Task RunPassAsync(BlockChild edge, long[] offsets, bool write, long[]? latencies, ExpectedData? verify, CancellationToken ct)
    {
        var flags = o.Cache is "writethrough" or "directsync" ? WriteFlags.Fua : WriteFlags.None;
        var buffers = new AlignedBuffer[o.Depth];
        for (int i = 0; i < buffers.Length; i++)
        {
            buffers[i] = AlignedBufferPool.Rent(o.BufferSize);
            buffers[i].Memory.Span.Fill(o.Fill);
        }
        try
        {
            if (o.Batch)
            {
                var batch = new List<Task>(o.Depth);
                for (int first = 0; first < offsets.Length; first += o.Depth)
                {
                    batch.Clear();
                    for (int i = first; i < Math.Min(first + o.Depth, offsets.Length); i++)
                    {
                        batch.Add(OneAsync(i, buffers[i - first]));
                    }
                    await Task.WhenAll(batch).ConfigureAwait(false);
                }
            }
            else
            {
                int next = -1;
                var workers = new Task[Math.Min(o.Depth, offsets.Length)];
                for (int slot = 0; slot < workers.Length; slot++)
                {
                    workers[slot] = WorkerAsync(buffers[slot]);
                }
                await Task.WhenAll(workers).ConfigureAwait(false);

                async Task WorkerAsync(AlignedBuffer buffer)
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < offsets.Length)
                    {
                        await OneAsync(i, buffer).ConfigureAwait(false);
                    }
                }
            }
        }
        finally
        {
            foreach (var buffer in buffers)
            {
                ((IDisposable)buffer).Dispose();
            }
        }

        async Task OneAsync(int i, AlignedBuffer buffer)
        {
            long offset = offsets[i];
            long t0 = Stopwatch.GetTimestamp();
            if (write)
            {
                await edge.WriteAsync(offset, buffer.Memory, flags, ct).ConfigureAwait(false);
            }
            else
            {
                await edge.ReadAsync(offset, buffer.Memory, ct).ConfigureAwait(false);
            }
            if (latencies is not null)
            {
                latencies[i] = Stopwatch.GetTimestamp() - t0;
            }
            if (verify is not null)
            {
                Check(verify, offset, buffer.Memory.Span);
            }
        }
    }

    private static void Check(ExpectedData expected, long offset, ReadOnlySpan<byte> data)
    {
        long bad = expected.FindMismatch(offset, data);
        if (bad >= 0)
        {
            throw new BenchException(string.Create(Inv,
                $"WRONG DATA: byte at offset {bad} (0x{bad:x}) is 0x{data[(int)(bad - offset)]:x2}, expected 0x{expected.ExpectedAt(bad):x2} " +
                $"(request at {offset}, {data.Length} bytes)"));
        }
    }

    // Untimed: read tests re-read the image once (up to one full image of requests) with checks;
    // write tests read back every offset written and check it holds the fill byte.
    private async Task VerifyAfterAsync(Session session, long[] offsets, CancellationToken ct)
    {
        long start = Stopwatch.GetTimestamp();
        ExpectedData expected;
        long[] plan;
        if (o.Write)
        {
            expected = ExpectedData.Single(o.Fill);
            plan = [.. offsets.Distinct()];
        }
        else
        {
            expected = o.Verify!;
            long perImage = Math.Max(1, session.Edge.Length / o.BufferSize);
            plan = offsets.Length <= perImage ? offsets : offsets[..(int)perImage];
        }
        await RunPassAsync(session.Edge, plan, write: false, latencies: null, verify: expected, ct).ConfigureAwait(false);
        if (!o.Quiet)
        {
            output.WriteLine(string.Create(Inv,
                $"verified: {plan.Length} {(o.Write ? "written offsets read back" : "requests re-read")}, data as expected " +
                $"({Stopwatch.GetElapsedTime(start).TotalSeconds:F2} s, untimed)"));
        }
    }

    private void Report(Measurement m, TimeSpan openTime, TimeSpan closeTime, string warmupNote,
        (long HwmKb, long RssKb)? rssAtStart, (long HwmKb, long RssKb)? rssBeforeOpen, (long HwmKb, long RssKb)? rssEnd)
    {
        double secs = m.Elapsed.TotalSeconds;
        double mib = (double)o.Count * o.BufferSize / (1 << 20);
        long hwm = rssEnd?.HwmKb ?? -1;
        if (!o.Quiet)
        {
            var sorted = (long[])m.Latencies.Clone();
            Array.Sort(sorted);
            string Lat(double q) => FormatTicks(sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))]);
            var w = new StringBuilder();
            w.AppendLine(string.Create(Inv,
                $"blockd: {mib / secs:F1} MiB/s, {o.Count / secs:F0} req/s; latency p50 {Lat(0.50)}, p90 {Lat(0.90)}, p99 {Lat(0.99)}, " +
                $"p99.9 {Lat(0.999)}, max {FormatTicks(sorted[^1])}; {SlowCount(sorted, secs)} requests took over a tenth of the run"));
            w.AppendLine(string.Create(Inv,
                $"blockd: cpu {m.Cpu.TotalSeconds:F2} s ({m.Cpu.TotalSeconds / secs:F2} cores busy), {m.Cpu.TotalMicroseconds / o.Count:F1} us cpu/request; " +
                $"allocated {(double)m.AllocatedBytes / o.Count:F0} B/request; GCs gen0/1/2 {m.Gc.Item1}/{m.Gc.Item2}/{m.Gc.Item3}; " +
                $"thread-pool work items {(double)m.WorkItems / o.Count:F2}/request, {m.Threads} threads; lock contentions {m.Contentions}"));
            w.AppendLine(string.Create(Inv,
                $"blockd: open {openTime.TotalMilliseconds:F1} ms, close {closeTime.TotalMilliseconds:F0} ms (includes the final flush); {warmupNote}"));
            w.AppendLine(string.Create(Inv,
                $"blockd: RSS at start {Kb(rssAtStart?.RssKb)}, before open {Kb(rssBeforeOpen?.RssKb)}, at end {Kb(rssEnd?.RssKb)}; " +
                $"peak (VmHWM, whole process) {Kb(hwm)}"));
            foreach (var n in m.Nodes)
            {
                string inFlight = m.InFlight is { } avg && avg.TryGetValue(n.Name, out var f)
                    ? string.Create(Inv, $"; in flight avg {f.Avg:F1}, max {f.Max}")
                    : "";
                w.AppendLine(string.Create(Inv,
                    $"  node {n.Name} ({n.Driver}): {n.ReadOps} reads {Mib(n.ReadBytes)}, {n.WriteOps} writes {Mib(n.WriteBytes)}, " +
                    $"{n.FlushOps} flushes, {n.DiscardOps} discards; per request: {(double)(n.ReadOps + n.WriteOps) / o.Count:F2} ops{inFlight}"));
            }
            if (m.Tap is { } tap)
            {
                w.AppendLine(string.Create(Inv,
                    $"  tap (format driver -> file), at most {m.TapMaxInFlight} in flight:"));
                foreach (var (kind, ops, bytes, time) in tap)
                {
                    w.AppendLine(string.Create(Inv,
                        $"    {kind,-12} {ops,9} ops {(double)ops / o.Count,6:F2}/request {Mib(bytes),12}  " +
                        $"total {time.TotalSeconds,7:F3} s, mean {time.TotalMicroseconds / ops,8:F1} us"));
                }
            }
            output.Write(w.ToString());
        }
        output.WriteLine(string.Create(Inv,
            $"RESULT side=blockd secs={secs:F6} cpu={m.Cpu.TotalSeconds:F3} hwm_kb={hwm} rss_before_open_kb={rssBeforeOpen?.RssKb ?? -1} " +
            $"alloc_per_req={(double)m.AllocatedBytes / o.Count:F0} p50_us={Percentile(m.Latencies, 0.5):F1} p99_us={Percentile(m.Latencies, 0.99):F1}"));
    }

    private static double Percentile(long[] ticks, double q)
    {
        var sorted = (long[])ticks.Clone();
        Array.Sort(sorted);
        return sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))] * 1e6 / Stopwatch.Frequency;
    }

    // Requests that waited for a large part of the run: a sign that some queue starves them.
    private static int SlowCount(long[] sorted, double runSeconds)
    {
        long limit = (long)(runSeconds / 10 * Stopwatch.Frequency);
        int firstSlow = Array.BinarySearch(sorted, limit);
        return sorted.Length - (firstSlow < 0 ? ~firstSlow : firstSlow);
    }

    private static string FormatTicks(long ticks)
    {
        double us = ticks * 1e6 / Stopwatch.Frequency;
        return us >= 1000 ? string.Create(Inv, $"{us / 1000:F2} ms") : string.Create(Inv, $"{us:F0} us");
    }

    private static string Kb(long? kb) => kb is null or < 0 ? "?" : string.Create(Inv, $"{kb.Value / 1024.0:F1} MiB");

    private static string Mib(long bytes) => string.Create(Inv, $"{bytes / 1048576.0:F1} MiB");

    private sealed record Measurement(
        TimeSpan Elapsed, TimeSpan Cpu, long AllocatedBytes, (int, int, int) Gc, long WorkItems, long Contentions, int Threads,
        long[] Latencies, List<NodeCounters> Nodes, List<(TapDriver.Kind Kind, long Ops, long Bytes, TimeSpan Time)>? Tap,
        int TapMaxInFlight, Dictionary<string, (double Avg, int Max)>? InFlight);

    /// <summary>The per-node I/O counters the generic path keeps (NodeStatistics), for a difference.</summary>
    private sealed record NodeCounters(string Name, string Driver, long ReadOps, long ReadBytes, long WriteOps, long WriteBytes, long FlushOps, long DiscardOps)
    {
        public static List<NodeCounters> Take(BlockGraph graph) =>
            [.. graph.Nodes.Select(n => new NodeCounters(n.NodeName, n.DriverName, n.Statistics.ReadOps, n.Statistics.ReadBytes,
                n.Statistics.WriteOps, n.Statistics.WriteBytes, n.Statistics.FlushOps, n.Statistics.DiscardOps))];

        public NodeCounters Minus(List<NodeCounters> before) =>
            before.FirstOrDefault(b => b.Name == Name) is { } b
                ? this with
                {
                    ReadOps = ReadOps - b.ReadOps, ReadBytes = ReadBytes - b.ReadBytes, WriteOps = WriteOps - b.WriteOps,
                    WriteBytes = WriteBytes - b.WriteBytes, FlushOps = FlushOps - b.FlushOps, DiscardOps = DiscardOps - b.DiscardOps,
                }
                : this;
    }

    /// <summary>--profile: requests in flight per node, sampled about every millisecond on a thread of its own.</summary>
    private sealed class InFlightSampler : IDisposable
    {
        private readonly Thread _thread;
        private readonly List<BlockNode> _nodes;
        private readonly long[] _sums;
        private readonly int[] _max;
        private long _samples;
        private volatile bool _stop;

        public InFlightSampler(BlockGraph graph)
        {
            _nodes = [.. graph.Nodes];
            _sums = new long[_nodes.Count];
            _max = new int[_nodes.Count];
            _thread = new Thread(Loop) { IsBackground = true, Name = "in-flight sampler" };
            _thread.Start();
        }

        public void Stop()
        {
            _stop = true;
            _thread.Join();
        }

        public Dictionary<string, (double Avg, int Max)> Averages() =>
            _nodes.Select((n, i) => (n.NodeName, (_samples == 0 ? 0 : (double)_sums[i] / _samples, _max[i])))
                .ToDictionary(t => t.NodeName, t => t.Item2);

        public void Dispose()
        {
            if (!_stop)
            {
                Stop();
            }
        }

        private void Loop()
        {
            while (!_stop)
            {
                for (int i = 0; i < _nodes.Count; i++)
                {
                    int n = _nodes[i].Requests.InFlight;
                    _sums[i] += n;
                    _max[i] = Math.Max(_max[i], n);
                }
                _samples++;
                Thread.Sleep(1);
            }
        }
    }

    /// <summary>A graph with one image open and a user edge on its top node.</summary>
    private sealed class Session : IAsyncDisposable
    {
        private Session(BlockGraph graph, BlockChild edge, TapDriver? tap)
        {
            Graph = graph;
            Edge = edge;
            Tap = tap;
        }

        public BlockGraph Graph { get; }
        public BlockChild Edge { get; }
        public TapDriver? Tap { get; }

        public static async Task<Session> OpenAsync(BenchOptions o, string filename, CancellationToken ct)
        {
            var graph = new BlockGraph();
            graph.RegisterDriver(new FileDriverFactory());
            graph.RegisterDriver(new BlockDaemon.Core.Drivers.Raw.RawDriverFactory());
#if HAVE_QCOW2
            graph.RegisterDriver(new BlockDaemon.Qcow2.Qcow2DriverFactory());
#else
            if (o.Format == "qcow2")
            {
                throw new BenchException(
                    "this build has no qcow2 driver (src/BlockDaemon.Qcow2/Qcow2DriverFactory.cs did not exist when it was built); " +
                    "rebuild the bench once it does, or use -f raw");
            }
#endif
            var tapFactory = new TapDriverFactory();
            graph.RegisterDriver(tapFactory);

            var file = new OptionDict();
            file.Set("driver", "file");
            file.Set("filename", filename);
            file.Set("aio", o.Aio);
            var top = new OptionDict();
            top.Set("driver", o.Format);
            top.Set("node-name", TopNode);
            if (!o.Write)
            {
                top.Set("read-only", true);
            }
            if (o.ForceShare)
            {
                top.Set("force-share", true);
            }
            var cache = new OptionDict();
            cache.Set("direct", o.Cache is "none" or "directsync");
            cache.Set("no-flush", o.Cache == "unsafe");
            top.Set("cache", cache);
            if (o.Tap)
            {
                var tap = new OptionDict();
                tap.Set("driver", TapDriverFactory.Name);
                tap.Set("file", file);
                top.Set("file", tap);
            }
            else
            {
                top.Set("file", file);
            }

            try
            {
                await graph.AddNodeAsync(top, ct).ConfigureAwait(false);
                var perm = o.Write ? BlockPermissions.ConsistentRead | BlockPermissions.Write : BlockPermissions.ConsistentRead;
                var user = graph.AttachUser(null, graph.GetNode(TopNode), perm, BlockPermissions.All);
                return new Session(graph, user.Root!, o.Tap ? tapFactory.Last : null);
            }
            catch (BlockException e)
            {
                await graph.CloseAllAsync(CancellationToken.None).ConfigureAwait(false);
                throw new BenchException($"cannot open '{filename}' as {o.Format}: {e.Message}", e);
            }
        }

        public ValueTask DisposeAsync() => Graph.CloseAllAsync(CancellationToken.None);
    }
}
