using System.Net.Sockets;
using System.Text;

namespace BlockDaemon;

/// <summary>
/// The sd_notify protocol, without libsystemd: one datagram of "KEY=VALUE" lines sent to the
/// Unix socket named by $NOTIFY_SOCKET. A unit with Type=notify learns from READY=1 that every
/// monitor socket is listening and every --blockdev/--export has been applied, which is the
/// moment a dependent unit may connect; STOPPING=1 tells it the shutdown has begun.
/// </summary>
internal static class SystemdNotify
{
    public const string EnvironmentVariable = "NOTIFY_SOCKET";

    /// <summary>
    /// Sends <paramref name="state"/> when $NOTIFY_SOCKET is set; returns whether it was sent.
    /// A failure is reported on stderr but does not stop the daemon: it serves its clients
    /// whether or not the service manager heard it.
    /// </summary>
    public static bool Notify(string state) => Notify(Environment.GetEnvironmentVariable(EnvironmentVariable), state);

    public static bool Notify(string? socketPath, string state)
    {
        if (string.IsNullOrEmpty(socketPath))
        {
            return false;
        }
        // "@name" is a socket in the abstract namespace; only absolute paths are valid otherwise.
        if (socketPath[0] == '@')
        {
            socketPath = "\0" + socketPath[1..];
        }
        else if (socketPath[0] != '/')
        {
            Console.Error.WriteLine($"blockd: {EnvironmentVariable}={socketPath} is neither an absolute path nor an abstract socket name; not notifying");
            return false;
        }
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            socket.Send(Encoding.UTF8.GetBytes(state));
            return true;
        }
        catch (SocketException e)
        {
            // .NET reports a missing socket file (ENOENT) as "Cannot assign requested address".
            string reason = e.SocketErrorCode == SocketError.AddressNotAvailable ? "no such socket" : e.Message;
            Console.Error.WriteLine($"blockd: cannot notify the service manager through {EnvironmentVariable}={socketPath}: {reason}");
            return false;
        }
    }
}
