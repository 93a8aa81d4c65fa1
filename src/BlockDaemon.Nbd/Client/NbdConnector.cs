using System.Net;
using System.Net.Sockets;
using BlockDaemon.Core.Errors;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace BlockDaemon.Nbd.Client;

/// <summary>Connects and negotiates; <see cref="ConnectWithinAsync"/> retries until a deadline (open-timeout, reconnect-delay).</summary>
public static class NbdConnector
{
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>One attempt when <paramref name="window"/> is zero; otherwise attempts every 100 ms until it has passed.</summary>
    public static async ValueTask<NbdClientConnection> ConnectWithinAsync(NbdClientOptions options, TimeSpan window, CancellationToken ct)
    {
        if (window <= TimeSpan.Zero)
        {
            return await ConnectOnceAsync(options, ct).ConfigureAwait(false);
        }
        BlockException? last = null;
        // Outermost first: one deadline over all attempts, then the retry loop.
        var pipeline = new ResiliencePipelineBuilder()
            .AddTimeout(window)
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<BlockException>(e => { last = e; return true; }),
                BackoffType = DelayBackoffType.Constant,
                Delay = RetryInterval,
                MaxRetryAttempts = int.MaxValue,
            })
            .Build();
        try
        {
            return await pipeline.ExecuteAsync(static async (state, token) => await ConnectOnceAsync(state, token).ConfigureAwait(false), options, ct).ConfigureAwait(false);
        }
        catch (TimeoutRejectedException) when (last is not null)
        {
            // The window ran out: report why the last attempt failed, as qemu does.
            throw last;
        }
    }

    // .NET reports a missing Unix socket file as EADDRNOTAVAIL; connect(2) itself said ENOENT.
    private static string ConnectError(NbdClientOptions options, SocketException e) =>
        options.Server is UnixDomainSocketEndPoint unix && e.SocketErrorCode == SocketError.AddressNotAvailable && !File.Exists(unix.ToString())
            ? "No such file or directory"
            : e.Message;

    public static async ValueTask<NbdClientConnection> ConnectOnceAsync(NbdClientOptions options, CancellationToken ct)
    {
        var socket = new Socket(options.Server.AddressFamily, SocketType.Stream,
            options.Server.AddressFamily == AddressFamily.Unix ? ProtocolType.Unspecified : ProtocolType.Tcp);
        try
        {
            if (options.Server is IPEndPoint { Address.IsIPv4MappedToIPv6: true })
            {
                // ipv6=on towards an IPv4 address: qemu connects through the v4-mapped form.
                socket.DualMode = true;
            }
            if (options.Inet?.KeepAlive == true)
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            }
            try
            {
                await socket.ConnectAsync(options.Server, ct).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw new BlockException(BlockErrorKind.IoError, $"Failed to connect to '{options.ServerText}': {ConnectError(options, e)}");
            }
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            try
            {
                var (info, negotiated) = await NbdClientHandshake.RunAsync(stream, options.ExportName, options.Tls, options.TlsHostname, ct, options.XDirtyBitmap).ConfigureAwait(false);
                if (options.XDirtyBitmap is not null && info.AllocationContextId is null)
                {
                    // qemu's check after every negotiation (nbd_handle_updated_info), reconnects
                    // included. qsd 7.2 drops its "requested x-dirty-bitmap ... not found" text
                    // on the way to blockdev-add and reports the errno alone; so do we.
                    await negotiated.DisposeAsync().ConfigureAwait(false);
                    if (!ReferenceEquals(negotiated, stream))
                    {
                        await stream.DisposeAsync().ConfigureAwait(false);
                    }
                    throw new BlockException(BlockErrorKind.InvalidArgument, "Could not open image: Invalid argument");
                }
                return new NbdClientConnection(socket, negotiated, info);
            }
            catch (Exception e) when (e is IOException or SocketException or Protocol.NbdProtocolException)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                throw new BlockException(BlockErrorKind.IoError, $"Failed to read initial magic: {e.Message}");
            }
            catch
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
