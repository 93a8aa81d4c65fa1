using System.Net.Sockets;
using BlockDaemon.IoTests.Qmp;
using Polly.Timeout;

namespace BlockDaemon.IoTests.Daemon;

/// <summary>
/// Waits until a freshly started daemon accepts connections on its QMP socket: retries a probe
/// connection until it succeeds, the daemon exits, or the overall deadline passes.
/// </summary>
public static class SocketReadiness
{
    /// <summary>The daemon exited before its socket accepted a connection.</summary>
    public sealed class DaemonExitedException : Exception
    {
        public DaemonExitedException()
            : base("the daemon exited before its QMP socket accepted a connection")
        {
        }

        public DaemonExitedException(string message)
            : base(message)
        {
        }

        public DaemonExitedException(string message, Exception innerException)
            : base(message, innerException)
        {
        }
    }

    /// <returns>True when the socket accepted; false when the daemon exited first.</returns>
    /// <exception cref="TimeoutException">Neither happened within <paramref name="timeout"/>.</exception>
    public static async Task<bool> WaitAsync(string socketPath, DaemonProcess daemon, TimeSpan timeout, CancellationToken ct)
    {
        var pipeline = ConnectRetry.Pipeline<bool>(timeout, _ => true);
        try
        {
            await pipeline.ExecuteAsync(
                async token =>
                {
                    if (daemon.HasExited)
                    {
                        throw new DaemonExitedException();
                    }

                    // A probe that connects and hangs up at once; qsd serves one client per
                    // socket at a time and moves on to the next when this one closes.
                    using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await probe.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), token).ConfigureAwait(false);
                    return true;
                },
                ct).ConfigureAwait(false);
            return true;
        }
        catch (DaemonExitedException)
        {
            return false;
        }
        catch (TimeoutRejectedException e)
        {
            throw new TimeoutException($"the daemon's QMP socket did not accept a connection within {timeout.TotalSeconds:0.#} s", e);
        }
    }
}
