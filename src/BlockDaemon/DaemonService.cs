using BlockDaemon.Core.Graph;
using BlockDaemon.Qmp.Server;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BlockDaemon;

/// <summary>
/// Runs the control loop for the life of the host, and on shutdown closes the monitors, then
/// drains, flushes and closes every node (parents before children).
/// </summary>
internal sealed class DaemonService(ControlLoop loop, QmpServer server, BlockGraph graph, ILogger<DaemonService> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => loop.RunAsync(stoppingToken);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            logger.LogWarning("Some QMP clients did not disconnect in time");
        }
        await JobShutdown.CancelAllAsync(loop, server.Jobs, logger).ConfigureAwait(false);
        // Graph changes belong to the control loop: stop the NBD server (dropping its clients)
        // and close the graph there, then stop the loop.
        await loop.InvokeAsync(async () =>
        {
            if (server.Exports.Server is not null)
            {
                await server.Exports.StopServerAsync().ConfigureAwait(false);
            }
            await graph.CloseAllAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);
        loop.Complete();
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }
}
