using BlockDaemon.Core.Jobs;

namespace BlockDaemon.Core.Tests.Jobs;

/// <summary>
/// job_sleep_ns: a rate-limit sleep is a pause point. A pause asked during the sleep takes effect
/// at once; one asked before it is taken instead of the sleep (not at some later pause point);
/// a new speed (WakeSleeper) ends the sleep without pausing. The sleep tells whether the job was
/// woken early, since qsd's job then goes on at once instead of sleeping the rest.
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

    private sealed class SleepingDriver(TimeSpan delay) : JobDriver
    {
        public TaskCompletionSource Go { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Sleeping { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        /// <summary>Completes with what the sleep returned: whether the job was woken early.</summary>
        public TaskCompletionSource<bool> Woke { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override JobType Type => JobType.Stream;

        public override async ValueTask RunAsync(Job job, CancellationToken ct)
        {
            await Go.Task.WaitAsync(ct);
            Sleeping.TrySetResult();
            try
            {
                Woke.TrySetResult(await job.SleepAsync(delay, ct));
            }
            catch (Exception e)
            {
                Woke.TrySetException(e);
                throw;
            }
            ct.ThrowIfCancellationRequested();
        }
    }

    private async Task<(Job Job, SleepingDriver Driver)> StartAsync(TimeSpan? delay = null)
    {
        var driver = new SleepingDriver(delay ?? TimeSpan.FromHours(1));
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
        Assert.True(await driver.Woke.Task.WaitAsync(TestContext.Current.CancellationToken));
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

        Assert.True(await driver.Woke.Task.WaitAsync(TestContext.Current.CancellationToken));
        Assert.Equal(JobStatus.Running, job.Status);
        await _loop.DrainAsync();
        Assert.Equal(["created", "running", "waiting", "pending", "concluded", "null"], _sink.Events);
    }

    [Fact]
    public async Task A_pause_and_resume_during_the_sleep_wake_the_job_early()
    {
        var (job, driver) = await StartAsync();
        driver.Go.SetResult();
        await driver.Sleeping.Task;
        await UntilAsync(() => !job.Busy);

        job.UserPause();
        job.UserResume();

        Assert.True(await driver.Woke.Task.WaitAsync(TestContext.Current.CancellationToken));
        await _loop.DrainAsync();
        Assert.Equal(["created", "running", "paused", "running", "waiting", "pending", "concluded", "null"], _sink.Events);
    }

    [Fact]
    public async Task A_sleep_that_runs_its_course_was_not_woken()
    {
        var (_, driver) = await StartAsync(TimeSpan.FromMilliseconds(5));
        driver.Go.SetResult();

        Assert.False(await driver.Woke.Task.WaitAsync(TestContext.Current.CancellationToken));
        await _loop.DrainAsync();
        Assert.Equal(["created", "running", "waiting", "pending", "concluded", "null"], _sink.Events);
    }

    [Fact]
    public async Task A_delay_longer_than_a_timer_can_wait_is_slept_in_parts()
    {
        // One byte a second owes weeks once a few chunks went out early.
        var (job, driver) = await StartAsync(TimeSpan.FromDays(100));
        driver.Go.SetResult();
        await driver.Sleeping.Task;
        await UntilAsync(() => !job.Busy || driver.Woke.Task.IsCompleted);

        job.WakeSleeper();

        Assert.True(await driver.Woke.Task.WaitAsync(TestContext.Current.CancellationToken));
        await _loop.DrainAsync();
    }
}
