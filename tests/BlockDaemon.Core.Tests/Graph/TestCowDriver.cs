using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Graph;

/// <summary>
/// A format driver for graph tests: data passes through to "file", and a "backing" link the
/// graph can replace, with a format's permissions on both (no header to rewrite).
/// </summary>
internal sealed class TestCowDriver(BlockChild file, BlockChild? backing = null) : IBlockDriver, IBackingLink
{
    public BlockChild? Backing { get; private set; } = backing;

    public void ReplaceBacking(BlockChild? backing) => Backing = backing;

    public ValueTask WriteBackingFileAsync(string? fileName, string? format, CancellationToken ct) =>
        throw new NotSupportedException("the test driver keeps no header");

    public string DriverName => "cow";
    public DriverLimits Limits { get; } = new();
    public long Length => file.Length;
    public string DisplayName => "cow";
    public long? AllocatedBytes => null;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct) => file.ReadAsync(offset, buffer, ct);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct) => file.WriteAsync(offset, data, flags, ct);

    public ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct) => file.WriteZeroesAsync(offset, length, flags, ct);

    public ValueTask DiscardAsync(long offset, long length, CancellationToken ct) => file.DiscardAsync(offset, length, ct);

    public ValueTask FlushAsync(CancellationToken ct) => file.FlushAsync(ct);

    public ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct) => file.BlockStatusAsync(offset, length, ct);

    public ValueTask TruncateAsync(long length, CancellationToken ct) => file.TruncateAsync(length, ct);

    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared) =>
        child.Role == "backing"
            ? (parentPerm & ConsistentRead, All & ~(Write | Resize))
            : ((parentPerm & Passthrough) | ConsistentRead, All);

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>
/// Opens <see cref="TestCowDriver"/> as driver "cow": data in "file", a "backing" child when the
/// options name one. Reads never consult the backing: only the graph's links are under test.
/// </summary>
internal sealed class TestCowDriverFactory : IBlockDriverFactory
{
    public string DriverName => "cow";

    public bool HasFileChild => true;

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var file = await context.OpenChildAsync("file", "file", ct);
        var backing = context.Options.Contains("backing") ? await context.OpenChildAsync("backing", "backing", ct) : null;
        return new TestCowDriver(file, backing);
    }
}
