using BlockDaemon.Core.Io;
using BlockDaemon.Core.Graph;

namespace BlockDaemon.Core.Drivers.MirrorTop;

/// <summary>
/// What a mirror job in write-blocking mode does with a guest write that reaches its
/// mirror_top filter: it must write <paramref name="source"/> itself, then bring the target up to
/// date before the write completes (qsd's active mirror, bdrv_mirror_top_do_write).
/// </summary>
public interface IMirrorTopWrites
{
    ValueTask WriteAsync(BlockChild source, long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct);

    ValueTask WriteZeroesAsync(BlockChild source, long offset, long length, WriteFlags flags, CancellationToken ct);

    ValueTask DiscardAsync(BlockChild source, long offset, long length, CancellationToken ct);
}
