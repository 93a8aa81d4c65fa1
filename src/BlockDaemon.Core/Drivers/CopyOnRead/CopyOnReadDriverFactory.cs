using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.CopyOnRead;

/// <summary>
/// copy-on-read (blockdev-add, or inserted by block-stream): child "file", optional "bottom",
/// the lowest node of file's backing chain whose data is copied up (cor_open's check and text).
/// </summary>
public sealed class CopyOnReadDriverFactory : IBlockDriverFactory
{
    public string DriverName => "copy-on-read";

    public bool HasFileChild => true;

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var file = await context.OpenChildAsync("file", "file", ct).ConfigureAwait(false);
        BlockNode? bottom = null;
        if (context.Options.GetString("bottom") is { } bottomName)
        {
            bottom = context.Node.Graph.FindNode(bottomName)
                ?? throw new BlockException(BlockErrorKind.NotFound, $"Bottom node '{bottomName}' not found");
            if (bottom.Driver is IFilterDriver)
            {
                throw BlockException.Invalid($"Bottom node '{bottomName}' is a filter");
            }
        }
        return new CopyOnReadDriver(file, bottom);
    }
}
