using System.Collections.Concurrent;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.TestKit;

/// <summary>
/// An <see cref="IBlockDriver"/> over a byte array, for testing the generic request path. It logs
/// every call and checks the contract the generic path promises drivers (aligned, within
/// <see cref="DriverLimits.MaxTransfer"/>, inside the image): a broken promise is recorded in
/// <see cref="Violations"/> and fails the request, so tests can assert both.
/// </summary>
public sealed class MemoryDriver : IBlockDriver
{
    // Guards _data's identity (truncate swaps it); byte copies run outside it, as on a real disk.
    private readonly Lock _lock = new();
    private byte[] _data;

    public MemoryDriver(long size, DriverLimits limits, Func<DriverCall, CancellationToken, ValueTask>? hook = null)
    {
        _data = new byte[checked((int)size)];
        Limits = limits;
        Hook = hook;
    }

    public string DriverName => "memory";

    public DriverLimits Limits { get; }

    public long Length
    {
        get
        {
            lock (_lock)
            {
                return _data.LongLength;
            }
        }
    }

    public string DisplayName => "memory://";

    public long? AllocatedBytes => null;

    /// <summary>Runs before every operation (after logging it): a place to yield, delay or block.</summary>
    public Func<DriverCall, CancellationToken, ValueTask>? Hook { get; set; }

    public ConcurrentQueue<DriverCall> Calls { get; } = new();

    public ConcurrentQueue<string> Violations { get; } = new();

    public BlockPermissions Perm { get; private set; }

    public BlockPermissions Shared { get; private set; } = BlockPermissions.All;

    public bool Disposed { get; private set; }

    /// <summary>The image's current content (a live view; do not hold it across a truncate).</summary>
    public Span<byte> Data
    {
        get
        {
            lock (_lock)
            {
                return _data;
            }
        }
    }

    public IEnumerable<DriverCall> CallsOf(DriverOp op) => Calls.Where(c => c.Op == op);

    public void ClearLog()
    {
        Calls.Clear();
        Violations.Clear();
    }

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        await EnterAsync(new DriverCall(DriverOp.Read, offset, buffer.Length), ct).ConfigureAwait(false);
        Data.Slice((int)offset, buffer.Length).CopyTo(buffer.Span);
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        await EnterAsync(new DriverCall(DriverOp.Write, offset, data.Length, flags), ct).ConfigureAwait(false);
        data.Span.CopyTo(Data[(int)offset..]);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct)
    {
        await EnterAsync(new DriverCall(DriverOp.WriteZeroes, offset, length, flags), ct).ConfigureAwait(false);
        if (!Limits.SupportsWriteZeroes)
        {
            Violate($"write-zeroes called although the driver does not declare it");
        }
        Data.Slice((int)offset, (int)length).Clear();
    }

    public async ValueTask DiscardAsync(long offset, long length, CancellationToken ct)
    {
        await EnterAsync(new DriverCall(DriverOp.Discard, offset, length), ct).ConfigureAwait(false);
        if (!Limits.SupportsDiscard)
        {
            Violate("discard called although the driver does not declare it");
        }
    }

    public async ValueTask FlushAsync(CancellationToken ct)
    {
        Calls.Enqueue(new DriverCall(DriverOp.Flush, 0, 0));
        if (Hook is { } hook)
        {
            await hook(new DriverCall(DriverOp.Flush, 0, 0), ct).ConfigureAwait(false);
        }
    }

    public async ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct)
    {
        var call = new DriverCall(DriverOp.BlockStatus, offset, length);
        Calls.Enqueue(call);
        if (Hook is { } hook)
        {
            await hook(call, ct).ConfigureAwait(false);
        }
        bool zero = Data.Slice((int)offset, (int)length).IndexOfAnyExcept((byte)0) < 0;
        return new BlockStatus(length, zero ? BlockStatusFlags.Zero : BlockStatusFlags.Data | BlockStatusFlags.Allocated);
    }

    public ValueTask TruncateAsync(long length, CancellationToken ct)
    {
        Calls.Enqueue(new DriverCall(DriverOp.Truncate, 0, length));
        lock (_lock)
        {
            Array.Resize(ref _data, checked((int)length));
        }
        return ValueTask.CompletedTask;
    }

    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(
        BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared) => (parentPerm, parentShared);

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
        Perm = perm;
        Shared = shared;
    }

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        return ValueTask.CompletedTask;
    }

    private async ValueTask EnterAsync(DriverCall call, CancellationToken ct)
    {
        Calls.Enqueue(call);
        long align = Limits.RequestAlignment;
        if (call.Offset % align != 0 || call.Length % align != 0)
        {
            Violate($"unaligned {call.Op} at {call.Offset} length {call.Length} (alignment {align})");
        }
        if (call.Length > Limits.MaxTransfer)
        {
            Violate($"{call.Op} of {call.Length} bytes exceeds max-transfer {Limits.MaxTransfer}");
        }
        if (call.Offset < 0 || call.Length < 0 || call.End > Length)
        {
            Violate($"{call.Op} at {call.Offset} length {call.Length} is outside the image (size {Length})");
        }
        if (Hook is { } hook)
        {
            await hook(call, ct).ConfigureAwait(false);
        }
    }

    private void Violate(string what)
    {
        Violations.Enqueue(what);
        throw new InvalidOperationException($"Driver contract violated: {what}");
    }
}
