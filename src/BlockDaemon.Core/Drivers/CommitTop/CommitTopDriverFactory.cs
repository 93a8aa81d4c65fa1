using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.CommitTop;

/// <summary>
/// commit_top: the filter an intermediate block-commit puts between the image above its top and
/// that top (child "backing"). Not a blockdev-add driver (qsd's schema has no such value), only
/// <see cref="BlockGraph.InsertFilterAsync"/> opens it.
/// </summary>
public sealed class CommitTopDriverFactory : IBlockDriverFactory
{
    public string DriverName => "commit_top";

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var backing = await context.OpenChildAsync("backing", "backing", ct).ConfigureAwait(false);
        return new CommitTopDriver(backing);
    }
}
