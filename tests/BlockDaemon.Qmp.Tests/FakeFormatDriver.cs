using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Qmp.Tests;

/// <summary>
/// A format driver named "qcow2" that stores nothing: it opens its "file" child, describes the
/// image with the <see cref="ImageInfo"/> the test registered for that file's name, and opens
/// a backing chain the way qcow2 does (from the header's name, given by "backing", or none).
/// Lets the info builder be tested without the real qcow2 driver.
/// </summary>
internal sealed class FakeFormatFactory : IBlockDriverFactory
{
    /// <summary>What each "image" (by its file node's name) says about itself.</summary>
    public Dictionary<string, ImageInfo> Images { get; } = new(StringComparer.Ordinal);

    public string DriverName => "qcow2";

    public bool HasFileChild => true;

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var file = await context.OpenChildAsync("file", "file", ct);
        var info = Images.GetValueOrDefault(file.Node.Driver.DisplayName) ?? new ImageInfo { ClusterSize = 65536, DirtyFlag = false };
        BlockChild? backing = null;
        if (context.Options.TryGet("backing", out var given))
        {
            if (given is null)
            {
                context.Options.Remove("backing");
            }
            else
            {
                backing = await context.OpenChildAsync("backing", "backing", ct);
            }
        }
        else if (info.BackingFileName is { } name)
        {
            string directory = Path.GetDirectoryName(file.Node.Driver.DisplayName) ?? "";
            var fileOptions = new OptionDict();
            fileOptions.Set("driver", "file");
            fileOptions.Set("filename", name.StartsWith('/') ? name : Path.Combine(directory, name));
            var backingOptions = new OptionDict();
            backingOptions.Set("driver", info.BackingFormat ?? "qcow2");
            backingOptions.Set("file", fileOptions);
            backingOptions.Set("read-only", true);
            context.Options.Set("backing", backingOptions);
            backing = await context.OpenChildAsync("backing", "backing", ct);
        }
        return new FakeFormatDriver(file, backing, info);
    }
}

internal sealed class FakeFormatDriver(BlockChild file, BlockChild? backing, ImageInfo info) : IBlockDriver, IImageInfoSource
{
    public string DriverName => "qcow2";
    public DriverLimits Limits { get; } = new();
    public long Length { get; } = 1 << 20;
    public string DisplayName => file.Node.Driver.DisplayName;

    // Deliberately not the sum the builder reports, so tests see which one is used.
    public long? AllocatedBytes => -1;

    public BlockChild? Backing => backing;

    public ImageInfo GetImageInfo() => info;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        buffer.Span.Clear();
        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask WriteZeroesAsync(long offset, long length, WriteFlags flags, CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask DiscardAsync(long offset, long length, CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask FlushAsync(CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask<BlockStatus> BlockStatusAsync(long offset, long length, CancellationToken ct) =>
        ValueTask.FromResult(new BlockStatus(length, BlockStatusFlags.Zero));

    public ValueTask TruncateAsync(long length, CancellationToken ct) => ValueTask.CompletedTask;

    public (BlockPermissions Perm, BlockPermissions Shared) ChildPermissions(BlockChild child, BlockPermissions parentPerm, BlockPermissions parentShared) =>
        child.Role == "backing"
            ? (BlockPermissions.None, BlockPermissions.All)
            : (BlockPermissions.ConsistentRead, BlockPermissions.ConsistentRead | BlockPermissions.WriteUnchanged | BlockPermissions.GraphMod);

    public void CheckPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public void SetPermissions(BlockPermissions perm, BlockPermissions shared)
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
