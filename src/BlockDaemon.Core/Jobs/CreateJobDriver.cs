namespace BlockDaemon.Core.Jobs;

/// <summary>
/// blockdev-create's job (QEMU's blockdev_create_run): one unit of progress around the image
/// creator, and a clean-up step on the control loop for whatever the creator opened.
/// </summary>
public sealed class CreateJobDriver(Func<Job, CancellationToken, ValueTask> create, Func<ValueTask>? clean = null) : JobDriver
{
    public override JobType Type => JobType.Create;

    public override async ValueTask RunAsync(Job job, CancellationToken ct)
    {
        job.Progress.SetRemaining(1);
        try
        {
            await create(job, ct).ConfigureAwait(false);
        }
        finally
        {
            // QEMU counts the step as done whether or not it succeeded.
            job.Progress.Update(1);
        }
    }

    public override ValueTask CleanAsync(Job job) => clean?.Invoke() ?? ValueTask.CompletedTask;
}
