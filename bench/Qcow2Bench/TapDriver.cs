using System.Diagnostics;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Bench.Qcow2;

/// <summary>
/// "bench-tap": a pass-through filter the bench puts between the format driver and its file
/// node (--tap). It counts what the format driver asks of its file, how long each kind of
/// request takes there, and how many are in flight at once, which tells I/O amplification,
/// time spent below the format driver and serialisation apart.
/// </summary>
internal sealed class TapDriverFactory : IBlockDriverFactory
{
    public const string Name = "bench-tap";

    public TapDriver? Last { get; private set; }

    public string DriverName => Name;

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var child = await context.OpenChildAsync("file", "file", ct).ConfigureAwait(false);
        Last = new TapDriver(child);
        return Last;
    }
}

internal sealed class TapDriver(BlockChild child) : IBlockDriver
{
    public enum Kind { Read, Write, WriteZeroes, Discard, Flush, BlockStatus, Truncate }

    private readonly long[] _ops = new long[7];
    private readonly long[] _bytes = new long[7];
    private readonly long[] _ticks = new long[7];
    private int _inFlight;
    private int _maxInFlight;

    public string DriverName => TapDriverFactory.Name;
    public DriverLimits Limits => child.Node.Driver.Limits;
    public long Length => child.Length;
    public string DisplayName => child.Node.Driver.DisplayName;
    public long? AllocatedBytes => child.Node.Driver.AllocatedBytes;
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    public void Reset()
    {
        Array.Clear(_ops);
        Array.Clear(_bytes);
        Array.Clear(_ticks);
        Volatile.Write(ref _maxInFlight, Volatile.Read(ref _inFlight));
    }

    public IEnumerable<(Kind Kind, long Ops, long Bytes, TimeSpan Time)> Snapshot() =>
        Enum.GetValues<Kind>()
            .Select(k => (k, Interlocked.Read(ref _ops[(int)k]), Interlocked.Read(ref _bytes[(int)k]),
                Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _ticks[(int)k]))))
            .Where(t => t.Item2 > 0);

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        long start = Enter();
        try
        {
            await child.ReadAsync(offset, buffer, ct).ConfigureAwait(false);
        }
        finally
        {
            Leave(Kind.Read, buffer.Length, start);
        }
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        long start = Enter();
        try
        {
            await child.WriteAsync(offset, data, flags, ct).ConfigureAwait(false);
        }
        finally
        {
            Leave(Kind.Write, data.Length, start);
        }
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct)
    {
        long start = Enter();
        try
        {
            await child.WriteZeroesAsync(offset, length, flags, ct).ConfigureAwait(false);
        }
        finally
        {
            Leave(Kind.WriteZeroes, length, start);
        }
    }

    public async ValueTask DiscardAsync(long offset, long length, CancellationToken ct)
    {
        long start = Enter();
        try
        {
            await child.DiscardAsync(offset, length, ct).ConfigureAwait(false);
        }
        finally
        {
            Leave(Kind.Discard, length, start);
        }
    }

    public async ValueTask FlushAsync(CancellationToken ct)
    {
        long start = Enter();
        try
        {
            await child.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            Leave(Kind.Flush, 0, start);
        }
    }

    public async ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct)
    {
        long start = Enter();
        try
        {
            return await child.BlockStatusAsync(offset, length, ct).ConfigureAwait(false);
        }
        finally
        {
            Leave(Kind.BlockStatus, 0, start);
        }
    }

    public async ValueTask TruncateAsync(long length, CancellationToken ct)
    {
        long start = Enter();
        try
        {
            await child.TruncateAsync(length, ct).ConfigureAwait(false);
        }
        finally
        {
            Leave(Kind.Truncate, 0, start);
        }
    }

    // A filter: the parent's needs go to the file unchanged, and it shares what its parents share.
    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(
        BlockChild edge, BlockPermissions parentPerm, BlockPermissions parentShared) =>
        (parentPerm & BlockPermissions.Passthrough, parentShared | BlockPermissions.GraphMod);

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private long Enter()
    {
        int now = Interlocked.Increment(ref _inFlight);
        int max;
        while (now > (max = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, max) != max)
        {
        }
        return Stopwatch.GetTimestamp();
    }

    private void Leave(Kind kind, long bytes, long start)
    {
        long elapsed = Stopwatch.GetTimestamp() - start;
        Interlocked.Decrement(ref _inFlight);
        Interlocked.Increment(ref _ops[(int)kind]);
        Interlocked.Add(ref _bytes[(int)kind], bytes);
        Interlocked.Add(ref _ticks[(int)kind], elapsed);
    }
}
