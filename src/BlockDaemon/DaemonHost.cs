using BlockDaemon.Qmp.Server;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BlockDaemon;

/// <summary>
/// The daemon's lifetime inside the generic host: the control loop runs from
/// <see cref="StartAsync"/> until the host stops (QMP quit; SIGTERM, SIGINT or SIGQUIT through
/// <see cref="DaemonLifetime"/>); then the monitors close, running jobs are cancelled, the NBD
/// server stops and every node is drained, flushed and closed (parents before children).
/// </summary>
internal sealed class DaemonHost(QmpServer server, ControlLoop loop, IHostApplicationLifetime lifetime, ILogger logger)
    : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _loopStopping = new();
    private Task? _loopTask;
    private bool _readyAnnounced;
    private bool _stopped;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loopTask = RunLoopAsync();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Every socket listens and every option has been applied: tells a Type=notify unit that the
    /// daemon is up, and that it is going down once the host stops.
    /// </summary>
    public void AnnounceReady()
    {
        _readyAnnounced = true;
        SystemdNotify.Notify($"READY=1\nMAINPID={Environment.ProcessId}");
    }

    /// <summary>
    /// Closes the monitors, cancels the jobs, stops the NBD server and closes the graph on the
    /// loop, then ends the loop. <paramref name="cancellationToken"/> fires after the host's
    /// shutdown timeout; then closing is abandoned rather than keeping the process alive.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopped)
        {
            return;
        }
        _stopped = true;
        if (_readyAnnounced)
        {
            SystemdNotify.Notify("STOPPING=1");
        }
        try
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            logger.LogWarning("Some QMP clients did not disconnect in time");
        }
        if (_loopTask is null)
        {
            return;
        }
        await JobShutdown.CancelAllAsync(loop, server.Jobs, logger).ConfigureAwait(false);
        try
        {
            // Graph changes belong to the control loop: stop the NBD server (dropping its
            // clients) and close the graph there, then let the loop finish.
            await loop.InvokeAsync(async () =>
            {
                if (server.Exports.Server is not null)
                {
                    await server.Exports.StopServerAsync().ConfigureAwait(false);
                }
                await server.Graph.CloseAllAsync(cancellationToken).ConfigureAwait(false);
                return true;
            }).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            logger.LogError("Closing the block graph did not finish within the shutdown timeout");
        }
        loop.Complete();
        try
        {
            await _loopTask.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await _loopStopping.CancelAsync().ConfigureAwait(false);
        }
    }

    public void Dispose() => _loopStopping.Dispose();

    // A loop that ends on its own (it should not) takes the daemon down rather than leaving
    // monitors that accept commands nobody runs.
    private async Task RunLoopAsync()
    {
        try
        {
            await loop.RunAsync(_loopStopping.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            logger.LogCritical(e, "The control loop failed");
        }
        lifetime.StopApplication();
    }
}
