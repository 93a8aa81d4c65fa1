using BlockDaemon.Core.Errors;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Client;

/// <summary>
/// The driver's link to its export across connection losses (qemu's reconnect-delay). With a
/// delay of 0 a lost connection fails every request at once. Otherwise requests, including those
/// in flight when it broke (block I/O is idempotent, and qemu resends them too), wait while one
/// shared attempt reconnects for up to the delay; when that fails they fail with EIO, and each
/// later request makes one immediate attempt of its own before failing.
/// </summary>
public sealed class NbdClientSession : IAsyncDisposable
{
    private readonly NbdClientOptions _options;
    private readonly TimeSpan _reconnectDelay;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _closing = new();
    private NbdClientConnection _current;
    private Task<NbdClientConnection>? _reconnecting;
    private bool _windowSpent;

    public NbdClientSession(NbdClientOptions options, NbdClientConnection first)
    {
        _options = options;
        _reconnectDelay = options.ReconnectDelay;
        _current = first;
        Info = first.Info;
    }

    /// <summary>What the first connection negotiated; later connections must serve the same size.</summary>
    public NbdExportInfo Info { get; }

    internal async ValueTask<NbdPendingRequest> RunAsync(NbdCommand command, NbdCommandFlags flags, ulong offset, uint length,
        Memory<byte> readBuffer, ReadOnlyMemory<byte> writeData, string operation, CancellationToken ct)
    {
        while (true)
        {
            var connection = await ConnectionAsync(ct).ConfigureAwait(false);
            try
            {
                return await connection.RunAsync(command, flags, offset, length, readBuffer, writeData, operation, ct).ConfigureAwait(false);
            }
            catch (BlockException) when (connection.IsBroken && _reconnectDelay > TimeSpan.Zero && !_closing.IsCancellationRequested)
            {
                // Lost with the connection: send it again on the next one.
            }
        }
    }

    private async ValueTask<NbdClientConnection> ConnectionAsync(CancellationToken ct)
    {
        Task<NbdClientConnection> reconnecting;
        lock (_gate)
        {
            if (!_current.IsBroken)
            {
                return _current;
            }
            if (_reconnectDelay == TimeSpan.Zero || _closing.IsCancellationRequested)
            {
                throw NbdClientErrors.ConnectionLost("the connection to the server is gone");
            }
            // The first loss opens a window of reconnect-delay; after it, one quick attempt per request.
            _reconnecting ??= ReconnectAsync(_windowSpent ? TimeSpan.Zero : _reconnectDelay);
            reconnecting = _reconnecting;
        }
        try
        {
            return await reconnecting.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (BlockException e)
        {
            throw NbdClientErrors.ConnectionLost(e.Message);
        }
    }

    private async Task<NbdClientConnection> ReconnectAsync(TimeSpan window)
    {
        await Task.Yield();
        NbdClientConnection? connection = null;
        try
        {
            connection = await NbdConnector.ConnectWithinAsync(_options, window, _closing.Token).ConfigureAwait(false);
            if (connection.Info.Size != Info.Size)
            {
                throw new BlockException(BlockErrorKind.IoError, $"the export's size changed from {Info.Size} to {connection.Info.Size}");
            }
            NbdClientConnection old;
            lock (_gate)
            {
                old = _current;
                _current = connection;
                _reconnecting = null;
                _windowSpent = false;
            }
            await old.DisposeAsync().ConfigureAwait(false);
            return connection;
        }
        catch (Exception e)
        {
            if (connection is not null && !ReferenceEquals(connection, _current))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            lock (_gate)
            {
                _reconnecting = null;
                _windowSpent = true;
            }
            throw e as BlockException ?? new BlockException(BlockErrorKind.IoError, e.Message, e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync().ConfigureAwait(false);
        Task<NbdClientConnection>? reconnecting;
        lock (_gate)
        {
            reconnecting = _reconnecting;
        }
        if (reconnecting is not null)
        {
            try
            {
                await reconnecting.ConfigureAwait(false);
            }
            catch (BlockException)
            {
            }
        }
        await _current.DisposeAsync().ConfigureAwait(false);
        _closing.Dispose();
    }
}
