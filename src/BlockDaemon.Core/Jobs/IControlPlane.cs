namespace BlockDaemon.Core.Jobs;

/// <summary>
/// The control loop as the job engine sees it: jobs run on the thread pool and post every state
/// change back here, so status, events and graph changes stay on one logical thread.
/// </summary>
public interface IControlPlane
{
    /// <summary>Queues work to run on the control loop after what is already queued.</summary>
    void Post(Func<Task> work);
}

public static class ControlPlaneExtensions
{
    /// <summary>
    /// Runs work on the control loop and completes with its result. Only for code that is not
    /// itself on the loop (a job's thread-pool work): awaiting this on the loop would deadlock.
    /// </summary>
    public static Task<T> InvokeAsync<T>(this IControlPlane loop, Func<Task<T>> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(async () =>
        {
            try
            {
                done.TrySetResult(await work().ConfigureAwait(false));
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        });
        return done.Task;
    }
}
