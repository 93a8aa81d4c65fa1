using System.Net.Sockets;
using BlockDaemon.Core.Errors;

namespace BlockDaemon.Nbd.Client;

/// <summary>Connects and negotiates, retrying a failed connection until open-timeout has passed.</summary>
public static class NbdConnector
{
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(100);

    public static async ValueTask<NbdClientConnection> ConnectAsync(NbdClientOptions options, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + options.OpenTimeout;
        while (true)
        {
            try
            {
                return await ConnectOnceAsync(options, ct).ConfigureAwait(false);
            }
            catch (BlockException) when (DateTime.UtcNow + RetryInterval < deadline)
            {
                // qemu's open-timeout: keep trying while the server is not up yet.
                await Task.Delay(RetryInterval, ct).ConfigureAwait(false);
            }
        }
    }

    // .NET reports a missing Unix socket file as EADDRNOTAVAIL; connect(2) itself said ENOENT.
    private static string ConnectError(NbdClientOptions options, SocketException e) =>
        options.Server is UnixDomainSocketEndPoint unix && e.SocketErrorCode == SocketError.AddressNotAvailable && !File.Exists(unix.ToString())
            ? "No such file or directory"
            : e.Message;

    private static async ValueTask<NbdClientConnection> ConnectOnceAsync(NbdClientOptions options, CancellationToken ct)
    {
        var socket = new Socket(options.Server.AddressFamily, SocketType.Stream,
            options.Server.AddressFamily == AddressFamily.Unix ? ProtocolType.Unspecified : ProtocolType.Tcp);
        try
        {
            try
            {
                await socket.ConnectAsync(options.Server, ct).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw new BlockException(BlockErrorKind.IoError, $"Failed to connect to '{options.ServerText}': {ConnectError(options, e)}");
            }
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            NbdExportInfo info;
            try
            {
                info = await NbdClientHandshake.RunAsync(stream, options.ExportName, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or Protocol.NbdProtocolException)
            {
                throw new BlockException(BlockErrorKind.IoError, $"Failed to read initial magic: {e.Message}");
            }
            return new NbdClientConnection(socket, info);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
