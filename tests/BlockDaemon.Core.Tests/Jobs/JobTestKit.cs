using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Jobs;

namespace BlockDaemon.Core.Tests.Jobs;

/// <summary>A control loop the test drains by hand, so every step is deterministic.</summary>
internal sealed class ManualControlPlane : IControlPlane
{
    private readonly Queue<Func<Task>> _items = new();
    private readonly Lock _lock = new();

    public void Post(Func<Task> work)
    {
        lock (_lock)
        {
            _items.Enqueue(work);
        }
    }

    /// <summary>Runs queued items until none has arrived for a short while (jobs post from the thread pool).</summary>
    public async Task DrainAsync()
    {
        for (int idle = 0; idle < 20;)
        {
            Func<Task>? next = null;
            lock (_lock)
            {
                _items.TryDequeue(out next);
            }
            if (next is null)
            {
                idle++;
                await Task.Delay(5);
                continue;
            }
            idle = 0;
            await next();
        }
    }
}

internal sealed class RecordingSink : IJobEventSink
{
    public List<string> Events { get; } = [];

    public void StatusChanged(string id, JobStatus status) => Events.Add(status.ToQapi());
}

/// <summary>A job whose work waits for the test: it finishes, fails, or loops through pause points.</summary>
internal sealed class ScriptedDriver : JobDriver
{
    public TaskCompletionSource<string?> Finish { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public bool LoopPausePoints { get; init; }
    public List<string> Hooks { get; } = [];

    public override JobType Type => JobType.Stream;

    public override async ValueTask RunAsync(Job job, CancellationToken ct)
    {
        await Task.Yield();
        while (LoopPausePoints && !Finish.Task.IsCompleted)
        {
            await job.PausePointAsync();
            ct.ThrowIfCancellationRequested();
            await Task.Delay(1, CancellationToken.None);
        }
        string? error = await Finish.Task.WaitAsync(ct);
        if (error is not null)
        {
            throw BlockException.Invalid(error);
        }
    }

    public override ValueTask CommitAsync(Job job) => Record("commit");
    public override ValueTask AbortAsync(Job job) => Record("abort");
    public override ValueTask CleanAsync(Job job) => Record("clean");

    public override void OnPending(Job job) => Hooks.Add("pending-event");

    public override void OnFinalized(Job job, bool cancelled) => Hooks.Add(cancelled ? "cancelled-event" : "completed-event");

    private ValueTask Record(string what)
    {
        Hooks.Add(what);
        return ValueTask.CompletedTask;
    }
}
