using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Jobs;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Jobs;

/// <summary>
/// A drain pauses the jobs that hold the drained node or a node above it (QEMU's child_job),
/// waits until they are quiescent, and resumes them when it ends: PAUSED/RUNNING (STANDBY/READY)
/// inside the drained section's begin and end. The test plays the control loop: nothing runs the
/// manual loop while a drain waits, so a drain that needed the loop would hang here.
/// </summary>
public sealed class DrainPausesJobsTests : IAsyncDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly ManualControlPlane _loop = new();
    private readonly RecordingSink _sink = new();
    private readonly JobManager _jobs;
    private readonly TestGraph _t = new();

    public DrainPausesJobsTests()
    {
        _jobs = new JobManager(_loop) { Events = _sink };
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var job in _jobs.Jobs.ToList())
        {
            if (job.Status is not (JobStatus.Concluded or JobStatus.Null))
            {
                await job.CancelAsync(force: true);
            }
        }
        await _loop.DrainAsync();
        await _t.DisposeAsync();
    }

    /// <summary>Sleeps (a rate-limit wait) until released, or loops over pause points (busy), or writes through its edge.</summary>
    private sealed class Driver : JobDriver
    {
        public TaskCompletionSource Sleeping { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Finish { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Busy { get; init; }
        public BlockChild? WriteThrough { get; set; }
        public bool IgnoreCancel { get; init; }

        public override JobType Type => JobType.Stream;

        public override async ValueTask RunAsync(Job job, CancellationToken ct)
        {
            await Task.Yield();
            var data = new byte[4096];
            while (!Finish.Task.IsCompleted)
            {
                if (IgnoreCancel)
                {
                    await Finish.Task;
                    return;
                }
                if (WriteThrough is { } edge)
                {
                    await edge.WriteAsync(0, data, ct: ct);
                }
                if (Busy)
                {
                    await job.PausePointAsync();
                    ct.ThrowIfCancellationRequested();
                    continue;
                }
                Sleeping.TrySetResult();
                await job.SleepAsync(TimeSpan.FromHours(1), ct);
                ct.ThrowIfCancellationRequested();
            }
        }
    }

    private async Task<(Job Job, Driver Driver)> StartAsync(string id, string node, Driver? driver = null)
    {
        driver ??= new Driver();
        var job = _jobs.Create(id, driver, JobFlags.None);
        var user = _t.Graph.AttachUser(null, _t.Graph.GetNode(node), None, All, jobChild: true);
        user.Job = job;
        await _jobs.StartAsync(job, Task.CompletedTask);
        return (job, driver);
    }

    private async Task<(Job Job, Driver Driver)> StartSleepingAsync(string id, string node)
    {
        var (job, driver) = await StartAsync(id, node);
        await driver.Sleeping.Task.WaitAsync(Ct);
        while (job.Busy)
        {
            await Task.Delay(1, Ct);
        }
        return (job, driver);
    }

    private async Task TwoNodesAsync()
    {
        await _t.AddAsync(Opt.Memory("disk"), Ct);
        await _t.AddAsync(Opt.Node("raw", "top", ("file", "disk")), Ct);
        await _t.AddAsync(Opt.Memory("other"), Ct);
    }

    [Fact]
    public async Task A_sleeping_job_is_paused_by_a_drain_of_its_node_and_resumed_at_its_end()
    {
        await TwoNodesAsync();
        var (job, _) = await StartSleepingAsync("j", "disk");
        _sink.Events.Clear();

        var drained = await _t.Graph.DrainedBeginAsync(_t.Graph.GetNode("disk"), Ct);

        Assert.Equal(JobStatus.Paused, job.Status);
        Assert.Equal(["paused"], _sink.Events);
        drained.End();
        Assert.Equal(JobStatus.Running, job.Status);
        Assert.Equal(["paused", "running"], _sink.Events);
    }

    [Fact]
    public async Task A_drain_below_the_job_node_pauses_it_and_one_elsewhere_does_not()
    {
        await TwoNodesAsync();
        var (job, _) = await StartSleepingAsync("j", "top");
        _sink.Events.Clear();

        var other = await _t.Graph.DrainedBeginAsync(_t.Graph.GetNode("other"), Ct);
        other.End();
        Assert.Empty(_sink.Events);

        var below = await _t.Graph.DrainedBeginAsync(_t.Graph.GetNode("disk"), Ct);
        Assert.Equal(JobStatus.Paused, job.Status);
        below.End();
        Assert.Equal(["paused", "running"], _sink.Events);
    }

    [Fact]
    public async Task Nested_drains_pause_once_and_resume_at_the_last_end()
    {
        await TwoNodesAsync();
        var (job, _) = await StartSleepingAsync("j", "top");
        _sink.Events.Clear();

        var outer = await _t.Graph.DrainedBeginAsync(_t.Graph.GetNode("top"), Ct);
        var inner = await _t.Graph.DrainedBeginAsync(_t.Graph.GetNode("disk"), Ct);
        inner.End();
        Assert.Equal(JobStatus.Paused, job.Status);
        outer.End();

        Assert.Equal(JobStatus.Running, job.Status);
        Assert.Equal(["paused", "running"], _sink.Events);
        Assert.Equal(0, job.PauseCount);
    }

    [Fact]
    public async Task A_job_paused_by_the_user_stays_paused_after_the_drain()
    {
        await TwoNodesAsync();
        var (job, _) = await StartSleepingAsync("j", "disk");
        job.UserPause();
        _sink.Events.Clear();

        var drained = await _t.Graph.DrainedBeginAsync(_t.Graph.GetNode("disk"), Ct);
        drained.End();

        Assert.Equal(JobStatus.Paused, job.Status);
        Assert.Empty(_sink.Events);
        job.UserResume();
        Assert.Equal(JobStatus.Running, job.Status);
    }

    [Fact]
    public async Task A_ready_job_goes_to_standby_and_back_to_ready()
    {
        await TwoNodesAsync();
        var (job, _) = await StartSleepingAsync("j", "disk");
        job.TransitionToReady();
        _sink.Events.Clear();

        var drained = await _t.Graph.DrainedBeginAsync(_t.Graph.GetNode("disk"), Ct);
        Assert.Equal(JobStatus.Standby, job.Status);
        drained.End();

        Assert.Equal(["standby", "ready"], _sink.Events);
    }

    [Fact]
    public async Task A_busy_job_is_waited_for_until_its_pause_point_without_the_loop()
    {
        await TwoNodesAsync();
        var (job, _) = await StartAsync("j", "disk", new Driver { Busy = true });
        _sink.Events.Clear();

        var drained = await _t.Graph.DrainedBeginAsync(_t.Graph.GetNode("disk"), Ct);

        Assert.Equal(JobStatus.Paused, job.Status);
        Assert.True(job.Paused);
        drained.End();
        Assert.Equal(["paused", "running"], _sink.Events);
    }

    [Fact]
    public async Task A_cancelled_job_still_running_is_waited_for_until_its_work_ends()
    {
        await TwoNodesAsync();
        var (job, driver) = await StartAsync("j", "disk", new Driver { IgnoreCancel = true });
        await job.CancelAsync(force: true);
        _sink.Events.Clear();

        var draining = _t.Graph.DrainedBeginAsync(_t.Graph.GetNode("disk"), Ct).AsTask();
        driver.Finish.SetResult();
        var drained = await draining;
        drained.End();

        Assert.DoesNotContain("paused", _sink.Events);
        Assert.True(job.Work!.IsCompleted);
    }

    [Fact]
    public async Task A_job_writing_through_the_drained_node_is_never_held_by_the_drain_it_waits_for()
    {
        await TwoNodesAsync();
        var edge = _t.Attach("top", Write, All);
        var (job, driver) = await StartAsync("j", "top", new Driver { Busy = true, WriteThrough = edge });

        for (int i = 0; i < 50; i++)
        {
            var drained = await _t.Graph.DrainedBeginAsync(_t.Graph.GetNode("disk"), Ct);
            Assert.True(job.IsQuiescent);
            Assert.Equal(0, _t.Graph.GetNode("disk").Requests.InFlight);
            drained.End();
        }
        driver.Finish.SetResult();
        Assert.Equal(JobStatus.Running, job.Status);
    }

    [Fact]
    public async Task A_drain_of_all_pauses_every_job_holding_a_node_once()
    {
        await TwoNodesAsync();
        var (first, _) = await StartSleepingAsync("a", "disk");
        var (second, _) = await StartSleepingAsync("b", "other");
        _sink.Events.Clear();

        await _t.Graph.DrainAllJobsAsync();

        Assert.Equal(["paused", "paused", "running", "running"], _sink.Events);
        Assert.Equal(JobStatus.Running, first.Status);
        Assert.Equal(JobStatus.Running, second.Status);
    }

    [Fact]
    public async Task A_section_for_jobs_only_pauses_them_without_holding_requests()
    {
        await TwoNodesAsync();
        var (job, _) = await StartSleepingAsync("j", "top");
        var edge = _t.Attach("top", Write, All);

        var paused = await _t.Graph.DrainedBeginJobsAsync(_t.Graph.GetNode("disk"));
        await edge.WriteAsync(0, new byte[512], ct: Ct);
        Assert.Equal(JobStatus.Paused, job.Status);
        paused.End();

        Assert.Equal(JobStatus.Running, job.Status);
    }
}
