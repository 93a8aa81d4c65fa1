using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Authentication;
using BlockDaemon.Nbd.Protocol;
using Microsoft.Extensions.Logging;

namespace BlockDaemon.Nbd.Server;

/// <summary>
/// One client: the handshake under a time limit, then requests read by one loop and handled
/// concurrently (up to <see cref="NbdServerOptions.MaxRequestsInFlight"/>), replies through one
/// writer. A protocol violation, a vanished client or <see cref="Abort"/> ends only this
/// connection; requests already received still finish their I/O before it closes.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "RunAsync owns the lifetime: it disposes the stream, writer and token source when the connection ends.")]
public sealed class NbdConnection
{
    // Replaced by the TLS stream after STARTTLS; disposing it closes the socket too.
    private Stream _stream;
    // The raw socket under _stream, only to see whether the client has sent more (or hung up).
    private readonly System.Net.Sockets.Socket? _socket;
    private readonly NbdExportTable _exports;
    private readonly NbdServerOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _cts;
    private readonly NbdFrameReader _reader;
    private readonly NbdReplyWriter _writer;

    internal NbdConnection(Stream stream, NbdExportTable exports, NbdServerOptions options, ILogger logger, CancellationToken serverStop, System.Net.Sockets.Socket? socket = null)
    {
        _stream = stream;
        _socket = socket;
        _exports = exports;
        _options = options;
        _logger = logger;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(serverStop);
        _reader = new NbdFrameReader(stream);
        _writer = new NbdReplyWriter(stream);
    }

    /// <summary>The export chosen in the handshake, once there is one.</summary>
    public NbdExport? Export { get; private set; }

    /// <summary>Runs the connection to its end; never throws.</summary>
    public async Task RunAsync()
    {
        try
        {
            var session = await HandshakeAsync().ConfigureAwait(false);
            if (session is not null)
            {
                Export = session.Export;
                // The export may have been removed between the handshake's lookup and the line
                // above; the remover drops clients after taking the name out, so checking again
                // here closes the gap.
                if (_exports.Find(session.Export.Name) != session.Export)
                {
                    return;
                }
                await TransmitAsync(session).ConfigureAwait(false);
            }
        }
        catch (NbdProtocolException e)
        {
            _logger.LogInformation("NBD client dropped: {Reason}", e.Message);
        }
        catch (AuthenticationException e)
        {
            _logger.LogInformation("NBD client dropped: TLS handshake failed: {Reason}", e.Message);
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or OperationCanceledException or ObjectDisposedException)
        {
            _logger.LogDebug("NBD connection ended: {Reason}", e.Message);
        }
        finally
        {
            await _cts.CancelAsync().ConfigureAwait(false);
            await _reader.CompleteAsync().ConfigureAwait(false);
            try
            {
                await _writer.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
            {
                // Unsent replies to a client that is gone.
            }
            await _stream.DisposeAsync().ConfigureAwait(false);
            _writer.Dispose();
            _cts.Dispose();
        }
    }

    /// <summary>
    /// True when the client has input this side has not read yet, or has hung up: a client that
    /// sent NBD_CMD_DISC and exited is in this state until the read loop catches up. An idle
    /// client that is still connected is not.
    /// </summary>
    public bool HasUnreadInputOrHungUp
    {
        get
        {
            try
            {
                return _socket is null || _socket.Poll(0, System.Net.Sockets.SelectMode.SelectRead);
            }
            catch (Exception e) when (e is ObjectDisposedException or System.Net.Sockets.SocketException)
            {
                return true;
            }
        }
    }

    /// <summary>Drops the client: pending reads and reply writes fail at once.</summary>
    public void Abort()
    {
        try
        {
            _cts.Cancel();
            _stream.Dispose();
        }
        catch (ObjectDisposedException)
        {
            // Already closed by RunAsync.
        }
    }

    private async ValueTask<NbdSession?> HandshakeAsync()
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
        limit.CancelAfter(_options.HandshakeTimeout);
        try
        {
            return await new NbdHandshake(_reader, _writer, _exports, _options.Tls is null ? null : StartTlsAsync).RunAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!_cts.IsCancellationRequested)
        {
            throw new NbdProtocolException($"Handshake not finished within {_options.HandshakeTimeout.TotalSeconds} s");
        }
    }

    // After the STARTTLS ack: the TLS handshake on the raw stream, then every frame through TLS.
    private async ValueTask StartTlsAsync(CancellationToken ct)
    {
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false);
        _stream = tls;
        await tls.AuthenticateAsServerAsync(_options.Tls!.ServerOptions(), ct).ConfigureAwait(false);
        if (_options.Authorize?.Invoke(tls.RemoteCertificate) is { } refusal)
        {
            throw new NbdProtocolException(refusal);
        }
        await _reader.SwitchToAsync(tls).ConfigureAwait(false);
        await _writer.SwitchToAsync(tls).ConfigureAwait(false);
    }

    private async ValueTask TransmitAsync(NbdSession session)
    {
        var handler = new NbdRequestHandler(session, _writer);
        int max = _options.MaxRequestsInFlight;
        // Counts free request slots; the read loop takes one per request, the request gives it back.
        using var slots = new SemaphoreSlim(max, max);
        var ct = _cts.Token;
        try
        {
            while (true)
            {
                await slots.WaitAsync(ct).ConfigureAwait(false);
                NbdRequest request;
                byte[]? payload = null;
                try
                {
                    request = await _reader.ReadAsync<NbdRequest>(NbdRequest.TryRead, ct).ConfigureAwait(false);
                    if (request.Command == NbdCommand.Disconnect)
                    {
                        slots.Release();
                        return;
                    }
                    if (request.Command == NbdCommand.Write)
                    {
                        payload = await ReadPayloadAsync(handler, request, ct).ConfigureAwait(false);
                    }
                }
                catch
                {
                    slots.Release();
                    throw;
                }
                _ = RunRequestAsync(handler, request, payload, slots);
            }
        }
        finally
        {
            // Every received request finishes (its I/O is not cancelled) before the connection closes.
            for (int i = 0; i < max; i++)
            {
                await slots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    // A WRITE's data must be read before the next header. Data longer than the maximum cannot be
    // skipped safely, so it gets EINVAL and the connection closes, as qemu does.
    private async ValueTask<byte[]> ReadPayloadAsync(NbdRequestHandler handler, NbdRequest request, CancellationToken ct)
    {
        if (request.Length > NbdLimits.MaxPayload)
        {
            await handler.HandleAsync(request, default, ct).ConfigureAwait(false);
            NbdProtocolException.Throw($"Write of {request.Length} bytes is over the {NbdLimits.MaxPayload}-byte limit; its data cannot be skipped");
        }
        byte[] payload = ArrayPool<byte>.Shared.Rent((int)request.Length);
        try
        {
            await _reader.ReadExactAsync(payload.AsMemory(0, (int)request.Length), ct).ConfigureAwait(false);
            return payload;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(payload);
            throw;
        }
    }

    private async Task RunRequestAsync(NbdRequestHandler handler, NbdRequest request, byte[]? payload, SemaphoreSlim slots)
    {
        try
        {
            var data = payload is null ? ReadOnlyMemory<byte>.Empty : payload.AsMemory(0, (int)request.Length);
            await handler.HandleAsync(request, data, _cts.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The reply could not be sent: the client is gone or stuck. End the connection.
            _logger.LogDebug("NBD reply to request {Cookie} not sent: {Reason}", request.Cookie, e.Message);
            await _cts.CancelAsync().ConfigureAwait(false);
        }
        finally
        {
            if (payload is not null)
            {
                ArrayPool<byte>.Shared.Return(payload);
            }
            slots.Release();
        }
    }
}
