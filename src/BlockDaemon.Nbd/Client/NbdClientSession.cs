using BlockDaemon.Core.Errors;
using BlockDaemon.Nbd.Protocol;
using Polly;
using Polly.Retry;

namespace BlockDaemon.Nbd.Client;

/// <summary>
/// The driver's link to its export across connection losses (qemu's reconnect-delay). With a
/// delay of 0 a lost connection fails every request at once. Otherwise requests, including those
/// in flight when it broke (block I/O is idempotent, and qemu resends them too), wait while one
/// shared attempt reconnects for up to the delay; when that fails they fail with EIO. Either way
/// the session then keeps reconnecting in the background (as qemu's connect thread does, backing
/// off from 1 s to 16 s) and fails requests at once until it is back; the next loss after that
/// opens a new window.
/// </summary>
public sealed class NbdClientSession : IAsyncDisposable
{
    private readonly NbdClientOptions _options;
    private readonly TimeSpan _reconnectDelay;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _closing = new();
    private NbdClientConnection _current;
    // _gate guards _current, _reconnecting, _background and _windowSpent.
    private Task<NbdClientConnection>? _reconnecting;
    private Task? _background;
    private bool _windowSpent;

    private static readonly ResiliencePipeline BackgroundRetry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<BlockException>(),
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromSeconds(1),
            MaxDelay = TimeSpan.FromSeconds(16),
            UseJitter = false,
            MaxRetryAttempts = int.MaxValue,
        })
        .Build();

    public NbdClientSession(NbdClientOptions options, NbdClientConnection first)
    {
        _options = options;
        _reconnectDelay = options.ReconnectDelay;
        _current = first;
        Info = first.Info;
    }

    /// <summary>What the first connection negotiated; later connections must serve the same size.</summary>
    public NbdExportInfo Info { get; }

    /// <summary>The options the session (re)connects with.</summary>
    public NbdClientOptions Options => _options;

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
            if (_closing.IsCancellationRequested)
            {
                throw NbdClientErrors.ConnectionLost("the connection to the server is gone");
            }
            if (_reconnecting is null && (_reconnectDelay == TimeSpan.Zero || _windowSpent))
            {
                _background ??= ReconnectInBackgroundAsync();
                throw NbdClientErrors.ConnectionLost("the connection to the server is gone");
            }
            // The first loss opens a window of reconnect-delay in which requests wait.
            _reconnecting ??= ReconnectAsync(_reconnectDelay);
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
        try
        {
            var connection = await NbdConnector.ConnectWithinAsync(_options, window, _closing.Token).ConfigureAwait(false);
            if (connection.Info.Size != Info.Size)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw new BlockException(BlockErrorKind.IoError, $"the export's size changed from {Info.Size} to {connection.Info.Size}");
            }
            await InstallAsync(connection).ConfigureAwait(false);
            return connection;
        }
        catch (Exception e)
        {
            lock (_gate)
            {
                _reconnecting = null;
                _windowSpent = true;
                if (!_closing.IsCancellationRequested)
                {
                    _background ??= ReconnectInBackgroundAsync();
                }
            }
            throw e as BlockException ?? new BlockException(BlockErrorKind.IoError, e.Message, e);
        }
    }

    private async Task ReconnectInBackgroundAsync()
    {
        await Task.Yield();
        try
        {
            var connection = await BackgroundRetry.ExecuteAsync(static async (session, token) =>
                await session.ConnectSameExportAsync(token).ConfigureAwait(false), this, _closing.Token).ConfigureAwait(false);
            await InstallAsync(connection).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Closing: nobody needs the connection any more.
        }
        finally
        {
            lock (_gate)
            {
                _background = null;
            }
        }
    }

    // One attempt; a server that now offers a different size is as good as no server.
    private async ValueTask<NbdClientConnection> ConnectSameExportAsync(CancellationToken ct)
    {
        var connection = await NbdConnector.ConnectOnceAsync(_options, ct).ConfigureAwait(false);
        if (connection.Info.Size != Info.Size)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new BlockException(BlockErrorKind.IoError, $"the export's size changed from {Info.Size} to {connection.Info.Size}");
        }
        return connection;
    }

    private async ValueTask InstallAsync(NbdClientConnection connection)
    {
        NbdClientConnection old;
        lock (_gate)
        {
            if (_closing.IsCancellationRequested)
            {
                old = connection;
            }
            else
            {
                old = _current;
                _current = connection;
                _reconnecting = null;
                _windowSpent = false;
            }
        }
        await old.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync().ConfigureAwait(false);
        Task<NbdClientConnection>? reconnecting;
        Task? background;
        lock (_gate)
        {
            reconnecting = _reconnecting;
            background = _background;
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
        if (background is not null)
        {
            await background.ConfigureAwait(false);
        }
        await _current.DisposeAsync().ConfigureAwait(false);
        _closing.Dispose();
    }
}
