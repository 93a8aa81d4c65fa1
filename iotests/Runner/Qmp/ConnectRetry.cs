using System.Net.Sockets;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace BlockDaemon.IoTests.Qmp;

/// <summary>
/// Connects a client to a socket the daemon may not have made yet. The runner waits for the
/// daemon's first QMP socket only; qsd (and blockd) set up the monitors of later `--chardev`
/// options after that one already accepts, so a client of such a socket can find it missing
/// (ENOENT) or not listening yet (ECONNREFUSED) for a moment. Those two are tried again, every
/// 25 ms up to the timeout, while <paramref name="daemonRunning"/> holds.
/// </summary>
public static class ConnectRetry
{
    public static async Task<QmpConnection> ConnectAsync(string path, TimeSpan timeout, Func<bool> daemonRunning, CancellationToken ct)
    {
        var pipeline = new ResiliencePipelineBuilder<QmpConnection>()
            .AddTimeout(timeout)
            .AddRetry(new RetryStrategyOptions<QmpConnection>
            {
                ShouldHandle = new PredicateBuilder<QmpConnection>().Handle<SocketException>(e =>
                    daemonRunning() && e.SocketErrorCode is SocketError.AddressNotAvailable or SocketError.ConnectionRefused),
                BackoffType = DelayBackoffType.Constant,
                Delay = TimeSpan.FromMilliseconds(25),
                MaxRetryAttempts = int.MaxValue,
            })
            .Build();
        try
        {
            return await pipeline.ExecuteAsync(async token => await QmpConnection.ConnectAsync(path, timeout, token).ConfigureAwait(false), ct)
                .ConfigureAwait(false);
        }
        catch (TimeoutRejectedException e)
        {
            throw new SocketException((int)SocketError.TimedOut, $"{path} did not accept a connection within {timeout.TotalSeconds:0.#} s: {e.Message}");
        }
    }
}
