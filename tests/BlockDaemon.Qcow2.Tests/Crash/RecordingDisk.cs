using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// An image file held in memory that logs every write, discard, truncate and flush in the order
/// they arrive, so a crash at any point of the log can be replayed afterwards. Its display name
/// is the path it was loaded from, so the qcow2 driver resolves a relative backing file name
/// next to it, as for the real file.
/// </summary>
internal sealed class RecordingDisk : IBlockDriver
{
    private readonly List<DiskEvent> _log = [];
    private byte[] _data;

    public RecordingDisk(string path, byte[] initial)
    {
        DisplayName = path;
        Initial = initial;
        _data = (byte[])initial.Clone();
    }

    /// <summary>The file content before the first logged request.</summary>
    public byte[] Initial { get; }

    public IReadOnlyList<DiskEvent> Log => _log;

    public string DriverName => "crash-recorder";

    public DriverLimits Limits { get; } = new() { SupportsWriteZeroes = true, SupportsDiscard = true, SupportsTruncate = true };

    public long Length => _data.LongLength;

    public string DisplayName { get; }

    public long? AllocatedBytes => null;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        // Like a file: bytes past the end read as zeroes.
        buffer.Span.Clear();
        if (offset < _data.LongLength)
        {
            int n = (int)Math.Min(buffer.Length, _data.LongLength - offset);
            _data.AsSpan((int)offset, n).CopyTo(buffer.Span);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        Record(DiskEventKind.Write, offset, data.Length, data.ToArray());
        EnsureLength(offset + data.Length);
        data.Span.CopyTo(_data.AsSpan((int)offset));
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct) =>
        WriteAsync(offset, new byte[length], flags, ct);

    public ValueTask DiscardAsync(long offset, long length, CancellationToken ct)
    {
        // A hole punch: the range reads as zeroes from now on (after a crash: maybe not yet).
        Record(DiskEventKind.Discard, offset, length, null);
        long end = Math.Min(offset + length, _data.LongLength);
        if (end > offset)
        {
            _data.AsSpan((int)offset, (int)(end - offset)).Clear();
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken ct)
    {
        Record(DiskEventKind.Flush, 0, 0, null);
        return ValueTask.CompletedTask;
    }

    public ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct) =>
        ValueTask.FromResult(new BlockStatus(length, BlockStatusFlags.Data | BlockStatusFlags.Allocated));

    public ValueTask TruncateAsync(long length, CancellationToken ct)
    {
        Record(DiskEventKind.Truncate, 0, length, null);
        Array.Resize(ref _data, checked((int)length));
        return ValueTask.CompletedTask;
    }

    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(
        BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared) => (parentPerm, parentShared);

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void Record(DiskEventKind kind, long offset, long length, byte[]? data) =>
        _log.Add(new DiskEvent(_log.Count, kind, offset, length, data));

    private void EnsureLength(long length)
    {
        if (length > _data.LongLength)
        {
            Array.Resize(ref _data, checked((int)length));
        }
    }
}
