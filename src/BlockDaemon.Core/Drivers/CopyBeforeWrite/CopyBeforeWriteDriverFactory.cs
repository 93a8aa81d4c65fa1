using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.CopyBeforeWrite;

/// <summary>
/// copy-before-write (blockdev-add, or inserted by a backup job): children "file" and "target",
/// an optional "bitmap" {node, name} whose set bits are the only clusters to copy (all of them
/// without), "on-cbw-error" and "cbw-timeout" (seconds), checked in cbw_open's order.
/// </summary>
public sealed class CopyBeforeWriteDriverFactory : IBlockDriverFactory
{
    public string DriverName => "copy-before-write";

    public bool HasFileChild => true;

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var options = context.Options;
        var file = await context.OpenChildAsync("file", "file", ct).ConfigureAwait(false);
        var target = await context.OpenChildAsync("target", "target", ct).ConfigureAwait(false);
        DirtyBitmap? bitmap = null;
        if (options.GetDict("bitmap") is { } reference)
        {
            string nodeName = reference.GetRequiredString("node");
            string name = reference.GetRequiredString("name");
            var node = context.Node.Graph.FindNode(nodeName)
                ?? throw new BlockException(BlockErrorKind.NotFound, $"Node '{nodeName}' not found");
            bitmap = node.FindDirtyBitmap(name)
                ?? throw new BlockException(BlockErrorKind.NotFound, $"Dirty bitmap '{name}' not found");
        }
        var onError = options.GetString("on-cbw-error") == "break-snapshot" ? OnCbwError.BreakSnapshot : OnCbwError.BreakGuestWrite;
        long timeout = options.GetInt64("cbw-timeout") ?? 0;
        if (timeout < 0 || timeout > uint.MaxValue)
        {
            throw BlockException.Invalid("Parameter 'cbw-timeout' expects uint32_t");
        }
        if (bitmap is not null && bitmap.DiskLength != file.Length)
        {
            throw BlockException.Invalid($"Bitmaps are of different sizes (destination size is {file.Length}, source size is {bitmap.DiskLength}) and can't be merged");
        }
        return new CopyBeforeWriteDriver(context.Node, file, target, bitmap, onError, TimeSpan.FromSeconds(timeout));
    }
}
