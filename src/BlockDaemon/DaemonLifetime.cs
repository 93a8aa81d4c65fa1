using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;

namespace BlockDaemon;

/// <summary>
/// The host's lifetime in place of ConsoleLifetime, with the same signal handling: SIGTERM,
/// SIGINT and SIGQUIT stop the host (the ordered shutdown QMP quit gets too) instead of ending
/// the process. ConsoleLifetime is constructed by the container from its options, environment
/// and logger, which under Native AOT means building generic types at run time for status lines
/// blockd never prints.
/// </summary>
internal sealed class DaemonLifetime(IHostApplicationLifetime lifetime) : IHostLifetime, IDisposable
{
    private static readonly PosixSignal[] Signals = [PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT];
    private readonly List<PosixSignalRegistration> _registrations = [];

    public Task WaitForStartAsync(CancellationToken cancellationToken)
    {
        foreach (var signal in Signals)
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                // The process must not end before the images are closed: shut down instead.
                context.Cancel = true;
                lifetime.StopApplication();
            }));
        }
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
    }
}
