using System.Net.Sockets;

namespace BlockDaemon.Bench.QmpLatency;

/// <summary>A daemon that is up: its process, a QMP connection that has seen the greeting, and how long that took.</summary>
internal sealed class RunningDaemon : IAsyncDisposable
{
    private bool _negotiated;

    public RunningDaemon(DaemonProcess process, QmpClient client, QmpGreeting greeting, TimeSpan startup)
    {
        Process = process;
        Client = client;
        Greeting = greeting;
        Startup = startup;
    }

    public DaemonProcess Process { get; }
    public QmpClient Client { get; }
    public QmpGreeting Greeting { get; }

    /// <summary>From the exec to the arrival of the QMP greeting.</summary>
    public TimeSpan Startup { get; }

    /// <summary>Leaves command mode negotiation; needed once before any other command.</summary>
    public async Task NegotiateAsync()
    {
        if (_negotiated)
            return;
        await Client.ExecuteAsync("qmp_capabilities");
        _negotiated = true;
    }

    /// <summary>
    /// Asks the daemon to leave with QMP 'quit' and waits for it; a daemon that refuses or does not
    /// answer is killed after <paramref name="grace"/> (see <see cref="DaemonProcess.WasKilled"/>).
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!Process.HasExited)
        {
            try
            {
                await NegotiateAsync();
                await Client.ExecuteAsync("quit");
            }
            catch (Exception e) when (e is QmpErrorException or TimeoutException or IOException
                                          or InvalidDataException or SocketException)
            {
                // No (clean) quit: StopAsync below falls back to killing it.
            }
        }
        await Client.DisposeAsync();
        await Process.StopAsync(grace);
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Process.DisposeAsync();
    }
}
