using BlockDaemon.Core.Jobs;

namespace BlockDaemon.Core.Tests.Jobs;

/// <summary>
/// job_sleep_ns: a rate-limit sleep is a pause point. A pause asked during the sleep takes effect
/// at once; one asked before it is taken instead of the sleep (not at some later pause point);
/// a new speed (WakeSleeper) ends the sleep without pausing.
/// </summary>
public sealed class JobSleepTests
{
    private readonly ManualControlPlane _loop = new();
    private readonly RecordingSink _sink = new();
    private readonly JobManager _jobs;

    public JobSleepTests()
    {
        _jobs = new JobManager(_loop) { Events = _sink };
    }

    private sealed class SleepingDriver : JobDriver
    {
        public TaskCompletionSource Go { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Sleeping { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Woke { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override JobType Type => JobType.Stream;

        public override async ValueTask RunAsync(Job job, CancellationToken ct)
        {
            await Go.Task.WaitAsync(ct);
            Sleeping.TrySetResult();
            await job.SleepAsync(TimeSpan.FromHours(1), ct);
            Woke.TrySetResult();
            ct.ThrowIfCancellationRequested();
        }
    }

    private async Task<(Job Job, SleepingDriver Driver)> StartAsync()
    {
        var driver = new SleepingDriver();
        var job = _jobs.Create("j", driver, JobFlags.None);
        await _jobs.StartAsync(job, Task.CompletedTask);
        return (job, driver);
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        while (!condition())
        {
            await Task.Delay(1, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task A_pause_of_a_sleeping_job_takes_effect_at_once()
    {
        var (job, driver) = await StartAsync();
        driver.Go.SetResult();
        await driver.Sleeping.Task;
        await UntilAsync(() => !job.Busy);

        job.UserPause();

        Assert.Equal(JobStatus.Paused, job.Status);
        await job.UserCancelAsync(force: true);
        await _loop.DrainAsync();
    }

    [Fact]
    public async Task A_pause_asked_before_the_sleep_is_taken_there()
    {
        var (job, driver) = await StartAsync();
        job.UserPause();
        Assert.Equal(JobStatus.Running, job.Status);

        driver.Go.SetResult();
        await _loop.DrainAsync();

        Assert.Equal(JobStatus.Paused, job.Status);
        Assert.False(driver.Woke.Task.IsCompleted);
        job.UserResume();
        await driver.Woke.Task.WaitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(JobStatus.Running, job.Status);
        await job.UserCancelAsync(force: true);
        await _loop.DrainAsync();
        Assert.Equal(["created", "running", "paused", "running", "aborting", "concluded", "null"], _sink.Events);
    }

    [Fact]
    public async Task WakeSleeper_ends_the_sleep_without_a_pause()
    {
        var (job, driver) = await StartAsync();
        driver.Go.SetResult();
        await driver.Sleeping.Task;
        await UntilAsync(() => !job.Busy);

        job.WakeSleeper();

        await driver.Woke.Task.WaitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(JobStatus.Running, job.Status);
        await _loop.DrainAsync();
        Assert.Equal(["created", "running", "waiting", "pending", "concluded", "null"], _sink.Events);
    }
}
