using System.Threading.Channels;
using BlockDaemon.Core.Jobs;

namespace BlockDaemon.Jobs.Tests;

/// <summary>A control loop for tests: posted work runs one item at a time on a task of its own, as the daemon's loop does.</summary>
internal sealed class SerialControlPlane : IControlPlane, IAsyncDisposable
{
    private readonly Channel<Func<Task>> _items = Channel.CreateUnbounded<Func<Task>>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;

    public SerialControlPlane()
    {
        _loop = Task.Run(async () =>
        {
            await foreach (var work in _items.Reader.ReadAllAsync())
            {
                await work();
            }
        });
    }

    public void Post(Func<Task> work) => _items.Writer.TryWrite(work);

    /// <summary>Runs <paramref name="work"/> on the loop (the test thread is not the loop).</summary>
    public Task RunAsync(Func<Task> work) => this.InvokeAsync(async () =>
    {
        await work();
        return true;
    });

    public Task RunAsync(Action work) => RunAsync(() =>
    {
        work();
        return Task.CompletedTask;
    });

    public async ValueTask DisposeAsync()
    {
        _items.Writer.TryComplete();
        await _loop;
    }
}
