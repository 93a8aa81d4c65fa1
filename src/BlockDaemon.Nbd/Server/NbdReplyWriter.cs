using System.IO.Pipelines;

namespace BlockDaemon.Nbd.Server;

/// <summary>
/// The one writer of a connection's output. Requests complete in any order on the thread pool;
/// each takes the lock, writes its whole reply (all chunks) and flushes, so replies never interleave
/// mid-frame. A client that stops reading blocks the flush until the connection's token is
/// cancelled or its socket closed.
/// </summary>
internal sealed class NbdReplyWriter : IDisposable
{
    // Guards _output: one reply at a time.
    private readonly SemaphoreSlim _lock = new(1, 1);
    private PipeWriter _output;

    public NbdReplyWriter(PipeWriter output)
    {
        _output = output;
    }

    /// <summary>Runs <paramref name="write"/> on the output under the lock, then flushes.</summary>
    public async ValueTask WriteAsync<TState>(TState state, Action<PipeWriter, TState> write, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            write(_output, state);
            var result = await _output.FlushAsync(ct).ConfigureAwait(false);
            if (result.IsCanceled || result.IsCompleted)
            {
                throw new EndOfStreamException("The NBD client stopped reading replies");
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    public async ValueTask CompleteAsync() => await _output.CompleteAsync().ConfigureAwait(false);

    /// <summary>Moves to a new transport (after STARTTLS); everything written so far has been flushed.</summary>
    public async ValueTask SwitchToAsync(PipeWriter output)
    {
        await _output.CompleteAsync().ConfigureAwait(false);
        _output = output;
    }

    public void Dispose() => _lock.Dispose();
}
