using BlockDaemon.Core.Graph;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// A workload run once through qcow2 over a <see cref="RecordingDisk"/>: the disk log, and for
/// every guest op the log range [Start, End) of the requests it caused, so a crash point in the
/// log maps back to the guest ops that had completed or were in flight.
/// </summary>
internal sealed class RecordedRun
{
    private RecordedRun(byte[] initialFile, IReadOnlyList<DiskEvent> log, IReadOnlyList<GuestOp> ops, int[] opStart, int[] opEnd)
    {
        InitialFile = initialFile;
        Log = log;
        Ops = ops;
        OpStart = opStart;
        OpEnd = opEnd;
    }

    public byte[] InitialFile { get; }
    public IReadOnlyList<DiskEvent> Log { get; }
    public IReadOnlyList<GuestOp> Ops { get; }
    public int[] OpStart { get; }
    public int[] OpEnd { get; }

    /// <summary>
    /// Opens <paramref name="imagePath"/> with our qcow2 driver over a recording disk (discard=unmap,
    /// freed clusters discarded in the file unless the config says otherwise) and applies
    /// <paramref name="ops"/> in order.
    /// </summary>
    public static async Task<RecordedRun> RecordAsync(string imagePath, CrashConfig config, IReadOnlyList<GuestOp> ops, CancellationToken ct)
    {
        var recorder = new RecordingDiskFactory();
        await using var graph = new TestGraph();
        graph.Graph.RegisterDriver(new Qcow2DriverFactory());
        graph.Graph.RegisterDriver(recorder);
        var options = Opt.Node("qcow2", "q", ("file", Opt.Node("crash-recorder", null, ("filename", imagePath))), ("discard", "unmap"),
            ("pass-discard-request", config.PassDiscard));
        if (config.SmallCaches)
        {
            // Two L2 tables and four refcount blocks: tables are evicted, so written between flushes.
            options.Set("l2-cache-size", 2L * config.ClusterSize);
            options.Set("refcount-cache-size", 4L * config.ClusterSize);
        }
        await graph.AddAsync(options, ct);
        var edge = graph.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.Resize);
        var disk = recorder.Opened!;
        var opStart = new int[ops.Count];
        var opEnd = new int[ops.Count];
        for (int i = 0; i < ops.Count; i++)
        {
            opStart[i] = disk.Log.Count;
            try
            {
                await ops[i].ApplyAsync(edge, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new InvalidOperationException($"{config}: op {i} ({ops[i]}) failed while recording: {e.Message}", e);
            }
            opEnd[i] = disk.Log.Count;
        }
        return new RecordedRun(disk.Initial, disk.Log.ToList(), ops, opStart, opEnd);
    }

    /// <summary>The index of the last flush in the log before <paramref name="crashPoint"/>, or -1.</summary>
    public int LastFlushBefore(int crashPoint)
    {
        for (int i = crashPoint - 1; i >= 0; i--)
        {
            if (Log[i].Kind == DiskEventKind.Flush)
            {
                return i;
            }
        }
        return -1;
    }
}
