using System.Net.Sockets;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace BlockDaemon.IoTests.Qmp;

/// <summary>
/// Connecting to a daemon's socket that may not be there yet: the probe that waits for a freshly
/// started daemon, and a client of one of its later sockets. The runner waits for the daemon's
/// first QMP socket only; qsd (and blockd) set up the monitors of later `--chardev` options after
/// that one already accepts, so such a client can find its socket missing (ENOENT) or not
/// listening yet (ECONNREFUSED) for a moment.
/// </summary>
public static class ConnectRetry
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(25);

    /// <summary>
    /// Runs attempts every 25 ms while <paramref name="retry"/> says a failure is worth another
    /// try, all within <paramref name="timeout"/> (a TimeoutRejectedException past it).
    /// </summary>
    public static ResiliencePipeline<T> Pipeline<T>(TimeSpan timeout, Func<SocketException, bool> retry) =>
        // Outermost first: one deadline over all attempts, then the retry loop.
        new ResiliencePipelineBuilder<T>()
            .AddTimeout(timeout)
            .AddRetry(new RetryStrategyOptions<T>
            {
                ShouldHandle = new PredicateBuilder<T>().Handle(retry),
                BackoffType = DelayBackoffType.Constant,
                Delay = Interval,
                MaxRetryAttempts = int.MaxValue,
            })
            .Build();

    /// <summary>A client connection; a missing or not yet listening socket is tried again while <paramref name="daemonRunning"/> holds.</summary>
    public static async Task<QmpConnection> ConnectAsync(string path, TimeSpan timeout, Func<bool> daemonRunning, CancellationToken ct)
    {
        var pipeline = Pipeline<QmpConnection>(timeout, e =>
            daemonRunning() && e.SocketErrorCode is SocketError.AddressNotAvailable or SocketError.ConnectionRefused);
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
