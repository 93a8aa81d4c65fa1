using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.SnapshotAccess;

/// <summary>snapshot-access (blockdev-add): one child, "file", whose point-in-time view it presents.</summary>
public sealed class SnapshotAccessDriverFactory : IBlockDriverFactory
{
    public string DriverName => "snapshot-access";

    public bool HasFileChild => true;

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var file = await context.OpenChildAsync("file", "file", ct).ConfigureAwait(false);
        return new SnapshotAccessDriver(file);
    }
}
