using System.Runtime.InteropServices;
using BlockDaemon.Core.Drivers.Blkdebug;
using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Drivers.Null;
using BlockDaemon.Core.Drivers.Raw;
using BlockDaemon.Core.Graph;
using BlockDaemon.Nbd.Client;
using BlockDaemon.Qcow2;
using BlockDaemon.Qmp.Commands;
using BlockDaemon.Qmp.Schema;
using BlockDaemon.Qmp.Server;
using Microsoft.Extensions.Logging;

namespace BlockDaemon;

/// <summary>
/// The daemon's objects, wired by hand, and its lifetime: the control loop runs from
/// <see cref="Start"/> until a shutdown request (QMP quit, SIGTERM, SIGINT, SIGQUIT), then the
/// monitors close, running jobs are cancelled, and every node is drained, flushed and closed
/// (parents before children).
/// </summary>
/// <remarks>
/// This replaces Microsoft.Extensions.Hosting: building a generic host (configuration,
/// dependency injection, options, the console logger's thread) took about 10 ms of a Native AOT
/// start-up that qemu-storage-daemon completes in 5-10 ms, for a handful of singletons that never
/// change (see bench/README.md, "Start-up and idle memory").
/// </remarks>
internal sealed class DaemonHost : IAsyncDisposable
{
    // How long closing the graph may take before the loop is abandoned (the host's old limit).
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(30);

    private readonly TaskCompletionSource _shutdownRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _loopStopping = new();
    private readonly List<PosixSignalRegistration> _signals = [];
    private readonly ILogger _logger;
    private Task? _loopTask;
    private bool _stopped;

    public DaemonHost(ILoggerFactory loggerFactory)
    {
        _logger = loggerFactory.CreateLogger<DaemonHost>();
        var events = new EventBus();
        var loop = new ControlLoop();
        var schema = QmpSchema.LoadEmbedded();
        var commands = CommandRegistry.CreateDefault();
        commands.VerifyAgainst(schema);
        var graph = new BlockGraph { Events = new BlockEventForwarder(events) };
        QmpServer? server = null;
        graph.RegisterDriver(new FileDriverFactory());
        graph.RegisterDriver(new NullDriverFactory());
        graph.RegisterDriver(new RawDriverFactory());
        graph.RegisterDriver(new Qcow2DriverFactory());
        // tls-creds name --object tls-creds-x509 objects, which live with the QMP server's
        // exports; the driver asks only when a node is opened, after the server exists.
        graph.RegisterDriver(new NbdClientDriverFactory(id => server?.Exports.TlsCredentials.GetValueOrDefault(id)));
        graph.RegisterDriver(new BlkdebugDriverFactory());
        Graph = graph;
        Loop = loop;
        server = new QmpServer(graph, schema, commands, loop, events, new DaemonControl(RequestShutdown),
            loggerFactory.CreateLogger<QmpServer>());
        Server = server;
    }

    public QmpServer Server { get; }
    public BlockGraph Graph { get; }
    public ControlLoop Loop { get; }

    /// <summary>Starts the control loop and takes over the termination signals.</summary>
    public void Start()
    {
        _loopTask = RunLoopAsync();
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT })
        {
            _signals.Add(PosixSignalRegistration.Create(signal, context =>
            {
                // The process must not end before the images are closed: shut down instead.
                context.Cancel = true;
                RequestShutdown();
            }));
        }
    }

    public void RequestShutdown() => _shutdownRequested.TrySetResult();

    /// <summary>Runs until a shutdown is requested, then stops the daemon.</summary>
    public async Task WaitForShutdownAsync()
    {
        await _shutdownRequested.Task.ConfigureAwait(false);
        SystemdNotify.Notify("STOPPING=1");
        await StopAsync().ConfigureAwait(false);
    }

    /// <summary>Closes the monitors, stops the NBD server and closes the graph on the loop, then ends the loop.</summary>
    public async Task StopAsync()
    {
        if (_stopped)
        {
            return;
        }
        _stopped = true;
        using var timeout = new CancellationTokenSource(ShutdownTimeout);
        try
        {
            await Server.DisposeAsync().ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("Some QMP clients did not disconnect in time");
        }
        if (_loopTask is not null)
        {
            await JobShutdown.CancelAllAsync(Loop, Server.Jobs, _logger).ConfigureAwait(false);
            try
            {
                // Graph changes belong to the control loop: stop the NBD server (dropping its
                // clients) and close the graph there, then let the loop finish.
                await Loop.InvokeAsync(async () =>
                {
                    if (Server.Exports.Server is not null)
                    {
                        await Server.Exports.StopServerAsync().ConfigureAwait(false);
                    }
                    await Graph.CloseAllAsync(timeout.Token).ConfigureAwait(false);
                    return true;
                }).WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _logger.LogError("Closing the block graph did not finish within {Timeout}", ShutdownTimeout);
            }
            Loop.Complete();
            try
            {
                await _loopTask.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await _loopStopping.CancelAsync().ConfigureAwait(false);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        foreach (var signal in _signals)
        {
            signal.Dispose();
        }
        _loopStopping.Dispose();
    }

    // A loop that ends on its own (it should not) takes the daemon down rather than leaving
    // monitors that accept commands nobody runs.
    private async Task RunLoopAsync()
    {
        try
        {
            await Loop.RunAsync(_loopStopping.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogCritical(e, "The control loop failed");
        }
        RequestShutdown();
    }
}
