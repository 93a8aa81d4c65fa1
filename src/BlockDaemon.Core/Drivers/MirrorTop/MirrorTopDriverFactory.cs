using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.MirrorTop;

/// <summary>
/// mirror_top, opened only by <see cref="BlockGraph.InsertFilterAsync"/> for a mirror or active
/// commit job (QMP's BlockdevDriver has no such name, so blockdev-add cannot reach it): one
/// "backing" child, the node the job copies from, as in qsd's graph; "x-commit" (bool) marks
/// the filter of an active commit, whose permissions differ.
/// </summary>
public sealed class MirrorTopDriverFactory : IBlockDriverFactory
{
    public string DriverName => "mirror_top";

    public bool HasFileChild => false;

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var backing = await context.OpenChildAsync("backing", "backing", ct).ConfigureAwait(false);
        return new MirrorTopDriver(backing, context.Options.GetBool("x-commit", false));
    }
}
