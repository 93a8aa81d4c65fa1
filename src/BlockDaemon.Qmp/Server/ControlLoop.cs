using System.Threading.Channels;
using BlockDaemon.Core.Jobs;

namespace BlockDaemon.Qmp.Server;

/// <summary>
/// The one logical thread of the control plane (QEMU's main loop): QMP commands and graph
/// changes run here one at a time, in arrival order, so control code needs no locks. Work items
/// may await I/O, but must never wait for another item of this loop (that would deadlock).
/// </summary>
public sealed class ControlLoop : IControlPlane
{
    private readonly Channel<Func<Task>> _work = Channel.CreateUnbounded<Func<Task>>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Runs queued work until <paramref name="ct"/> is cancelled and the queue is closed.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var item in _work.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                await item().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>Queues work and completes with its result once the loop has run it.</summary>
    public Task<T> InvokeAsync<T>(Func<Task<T>> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var item = async () =>
        {
            try
            {
                done.TrySetResult(await work().ConfigureAwait(false));
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        };
        if (!_work.Writer.TryWrite(item))
        {
            done.TrySetException(new OperationCanceledException("The daemon is shutting down"));
        }
        return done.Task;
    }

    /// <summary>Stops accepting work; what is queued still runs.</summary>
    public void Complete() => _work.Writer.TryComplete();

    /// <summary>
    /// Queues work without waiting for it (jobs post their state changes this way). The work
    /// handles its own failures: one escaping here is dropped so that the loop keeps running.
    /// </summary>
    public void Post(Func<Task> work) => _work.Writer.TryWrite(async () =>
    {
        try
        {
            await work().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Nothing to report to: the job has recorded its own error.
        }
    });
}
