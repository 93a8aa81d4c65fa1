using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Jobs;

namespace BlockDaemon.Core.Tests.Jobs;

/// <summary>Whole lives of jobs: the JOB_STATUS_CHANGE sequence QEMU 7.2 emits, and each verb's checks.</summary>
public sealed class JobLifecycleTests
{
    private readonly ManualControlPlane _loop = new();
    private readonly RecordingSink _sink = new();
    private readonly JobManager _jobs;

    public JobLifecycleTests()
    {
        _jobs = new JobManager(_loop) { Events = _sink };
    }

    private async Task<(Job Job, ScriptedDriver Driver)> StartAsync(JobFlags flags = JobFlags.None, bool pausePoints = false)
    {
        var driver = new ScriptedDriver { LoopPausePoints = pausePoints };
        var job = _jobs.Create("j", driver, flags);
        await _jobs.StartAsync(job, Task.CompletedTask);
        return (job, driver);
    }

    [Fact]
    public async Task A_successful_job_goes_to_null_by_itself()
    {
        var (job, driver) = await StartAsync();
        driver.Finish.SetResult(null);
        await _loop.DrainAsync();
        Assert.Equal(["created", "running", "waiting", "pending", "concluded", "null"], _sink.Events);
        Assert.Equal(["commit", "clean", "completed-event"], driver.Hooks);
        Assert.Empty(_jobs.Jobs);
        Assert.Null(job.Error);
    }

    [Fact]
    public async Task Manual_finalize_and_dismiss_wait_for_the_user()
    {
        var (job, driver) = await StartAsync(JobFlags.ManualFinalize | JobFlags.ManualDismiss);
        driver.Finish.SetResult(null);
        await _loop.DrainAsync();
        Assert.Equal(JobStatus.Pending, job.Status);
        Assert.Equal(["pending-event"], driver.Hooks);
        var e = Assert.Throws<BlockException>(job.Dismiss);
        Assert.Equal("Job 'j' in state 'pending' cannot accept command verb 'dismiss'", e.Message);
        await job.FinalizeAsync();
        Assert.Equal(JobStatus.Concluded, job.Status);
        job.Dismiss();
        Assert.Equal(["created", "running", "waiting", "pending", "concluded", "null"], _sink.Events);
        Assert.Empty(_jobs.Jobs);
    }

    [Fact]
    public async Task A_failed_job_aborts_and_keeps_its_error()
    {
        var (job, driver) = await StartAsync(JobFlags.ManualDismiss);
        driver.Finish.SetResult("disk on fire");
        await _loop.DrainAsync();
        Assert.Equal(["created", "running", "aborting", "concluded"], _sink.Events);
        Assert.Equal(["abort", "clean", "completed-event"], driver.Hooks);
        Assert.Equal("disk on fire", job.Error);
    }

    [Fact]
    public async Task Cancel_while_running_aborts_with_operation_canceled()
    {
        var (job, driver) = await StartAsync(JobFlags.ManualDismiss);
        await job.UserCancelAsync(force: true);
        await _loop.DrainAsync();
        Assert.Equal(["created", "running", "aborting", "concluded"], _sink.Events);
        Assert.Equal(["abort", "clean", "cancelled-event"], driver.Hooks);
        Assert.Equal("Operation canceled", job.Error);
    }

    [Fact]
    public async Task Cancel_of_a_pending_job_aborts_it()
    {
        var (job, driver) = await StartAsync(JobFlags.ManualFinalize);
        driver.Finish.SetResult(null);
        await _loop.DrainAsync();
        await job.UserCancelAsync(force: true);
        Assert.Equal(["created", "running", "waiting", "pending", "aborting", "concluded", "null"], _sink.Events);
        Assert.Equal(["pending-event", "abort", "clean", "cancelled-event"], driver.Hooks);
    }

    [Fact]
    public async Task A_job_cancelled_before_it_starts_concludes_without_job_events()
    {
        var driver = new ScriptedDriver();
        var job = _jobs.Create("j", driver, JobFlags.None);
        await job.UserCancelAsync(force: true);
        Assert.Equal(["created", "aborting", "concluded", "null"], _sink.Events);
        Assert.Equal(["abort", "clean"], driver.Hooks);
    }

    [Fact]
    public async Task Pause_and_resume_count_and_report_in_qsd_words()
    {
        var (job, driver) = await StartAsync(pausePoints: true);
        var e = Assert.Throws<BlockException>(job.UserResume);
        Assert.Equal("Can't resume a job that was not paused", e.Message);
        job.UserPause();
        e = Assert.Throws<BlockException>(job.UserPause);
        Assert.Equal("Job is already paused", e.Message);
        await _loop.DrainAsync();
        Assert.Equal(JobStatus.Paused, job.Status);
        job.Pause();
        job.UserResume();
        Assert.Equal(JobStatus.Paused, job.Status);
        job.Resume();
        Assert.Equal(JobStatus.Running, job.Status);
        driver.Finish.SetResult(null);
        await _loop.DrainAsync();
        Assert.Equal(["created", "running", "paused", "running", "waiting", "pending", "concluded", "null"], _sink.Events);
    }

    [Fact]
    public async Task Cancel_wakes_a_paused_job()
    {
        var (job, _) = await StartAsync(pausePoints: true);
        job.UserPause();
        await _loop.DrainAsync();
        await job.UserCancelAsync(force: true);
        await _loop.DrainAsync();
        Assert.Equal(["created", "running", "paused", "running", "aborting", "concluded", "null"], _sink.Events);
    }

    [Fact]
    public async Task Complete_needs_a_ready_job_that_supports_it()
    {
        var (job, driver) = await StartAsync();
        var e = Assert.Throws<BlockException>(job.Complete);
        Assert.Equal("Job 'j' in state 'running' cannot accept command verb 'complete'", e.Message);
        driver.Finish.SetResult(null);
        await _loop.DrainAsync();
    }

    [Theory]
    [InlineData(null, "An explicit job ID is required")]
    [InlineData("", "Invalid job ID ''")]
    [InlineData("1x", "Invalid job ID '1x'")]
    [InlineData("a b", "Invalid job ID 'a b'")]
    public void Job_ids_are_checked(string? id, string message)
    {
        var e = Assert.Throws<BlockException>(() => _jobs.Create(id, new ScriptedDriver(), JobFlags.None));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void Job_ids_are_unique_and_listed_newest_first()
    {
        _jobs.Create("a", new ScriptedDriver(), JobFlags.None);
        _jobs.Create("b.c_d-1", new ScriptedDriver(), JobFlags.None);
        var e = Assert.Throws<BlockException>(() => _jobs.Create("a", new ScriptedDriver(), JobFlags.None));
        Assert.Equal("Job ID 'a' already in use", e.Message);
        Assert.Equal(["b.c_d-1", "a"], _jobs.Jobs.Select(j => j.Id));
        Assert.Equal("Job not found", Assert.Throws<BlockException>(() => _jobs.Get("x")).Message);
    }
}
