using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.Null;

/// <summary>
/// Reads return nothing (the buffer is left as is, like qsd) or zeroes with read-zeroes=on;
/// writes are dropped. An optional latency delays every request.
/// </summary>
public sealed class NullDriver : IBlockDriver
{
    private static readonly DriverLimits NullLimits = new() { SupportsWriteZeroes = true, SupportsFua = true };
    private readonly TimeSpan _latency;
    private readonly bool _readZeroes;

    public NullDriver(long size, TimeSpan latency, bool readZeroes)
    {
        Length = size;
        _latency = latency;
        _readZeroes = readZeroes;
    }

    public string DriverName => "null-co";
    public DriverLimits Limits => NullLimits;
    public long Length { get; }
    public string DisplayName => "null-co://";
    public long? AllocatedBytes => 0;

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        await DelayAsync(ct).ConfigureAwait(false);
        if (_readZeroes)
        {
            buffer.Span.Clear();
        }
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct) => DelayAsync(ct);

    public ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct) => DelayAsync(ct);

    public ValueTask DiscardAsync(long offset, long length, CancellationToken ct) => DelayAsync(ct);

    public ValueTask FlushAsync(CancellationToken ct) => DelayAsync(ct);

    public async ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct)
    {
        await DelayAsync(ct).ConfigureAwait(false);
        return new BlockStatus(length, _readZeroes ? BlockStatusFlags.Zero | BlockStatusFlags.Allocated : BlockStatusFlags.Data);
    }

    public ValueTask TruncateAsync(long length, CancellationToken ct) => ValueTask.CompletedTask;

    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared) =>
        (BlockPermissions.None, BlockPermissions.All);

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private ValueTask DelayAsync(CancellationToken ct) =>
        _latency > TimeSpan.Zero ? new ValueTask(Task.Delay(_latency, ct)) : ValueTask.CompletedTask;
}
