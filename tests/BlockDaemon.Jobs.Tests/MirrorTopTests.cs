using BlockDaemon.Core.Drivers.MirrorTop;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Jobs;
using BlockDaemon.Jobs.BlockJobs;
using BlockDaemon.Jobs.Mirror;
using BlockDaemon.TestKit;

namespace BlockDaemon.Jobs.Tests;

/// <summary>
/// Mirror jobs with their mirror_top filter, on memory nodes: write-blocking keeps every
/// acknowledged guest write on the target, and block-job-complete moves every parent of the
/// source (users through the filter, nodes reading it directly) to the target.
/// </summary>
public sealed class MirrorTopTests : IAsyncLifetime
{
    private const int Size = 2 << 20;
    private const int Block = 4096;
    private readonly TestGraph _graph = new();
    private readonly SerialControlPlane _loop = new();
    private readonly JobEvents _events = new();
    private JobManager _jobs = null!;
    private BlockNode _src = null!;
    private BlockNode _dst = null!;

    public async ValueTask InitializeAsync()
    {
        _graph.Graph.RegisterDriver(new MirrorTopDriverFactory());
        _jobs = new JobManager(_loop);
        _src = await _graph.AddAsync(Opt.Memory("src", ("size", Size)));
        _dst = await _graph.AddAsync(Opt.Memory("dst", ("size", Size)));
        var data = _graph.Memory["src"].Data;
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(i / Block * 7 + 1);
        }
        _graph.Memory["dst"].Data.Fill(0xEE);
    }

    public async ValueTask DisposeAsync()
    {
        await _loop.DisposeAsync();
        await _graph.DisposeAsync();
    }

    private async Task<(Job Job, MirrorJob Driver, BlockNode Filter)> StartAsync(bool writeBlocking, long speed)
    {
        BlockNode filter = null!;
        MirrorJob driver = null!;
        Job job = null!;
        await _loop.RunAsync(async () =>
        {
            filter = await _graph.Graph.InsertFilterAsync(
                Opt.Dict(("driver", "mirror_top"), ("node-name", "mtop"), ("backing", "src")), _src, "backing");
            var options = new MirrorOptions { Granularity = 64 << 10, BufSize = 64 << 10, WriteBlocking = writeBlocking };
            driver = new MirrorJob(_graph.Graph, _events, _src, _dst, _src, options, filter);
            job = _jobs.Create("m", driver, JobFlags.None);
            driver.Attach(job);
            driver.SetSpeed(speed);
            driver.Acquire();
            await _jobs.StartAsync(job, Task.CompletedTask);
        });
        return (job, driver, filter);
    }

    [Fact]
    public async Task Write_blocking_puts_every_acknowledged_write_on_the_target_at_ready_and_after()
    {
        var guest = _graph.Attach("src", BlockPermissions.ConsistentRead | BlockPermissions.Write, userName: "guest");
        var shadow = _graph.Memory["src"].Data.ToArray();
        // Throttled so the guest writes land while the bulk copy is under way.
        var (job, _, filter) = await StartAsync(writeBlocking: true, speed: 4 << 20);
        Assert.Same(filter, guest.Node);

        var random = new Random(150);
        var buffer = new byte[Block];
        // A bounded number of writes: in background mode a writer this fast would keep the job
        // from converging; write-blocking converges while it writes.
        for (int i = 0; i < 4000 && !_events.ReadyTask.IsCompleted; i++)
        {
            await WriteAsync(guest, shadow, random, buffer);
            if (i % 8 == 0)
            {
                await Task.Delay(1, TestContext.Current.CancellationToken);
            }
        }
        await _events.ReadyTask.WaitAsync(TestContext.Current.CancellationToken);
        // READY: nothing dirty and nothing in flight, so every acknowledged write is on the target.
        Assert.Equal(shadow, _graph.Memory["dst"].Data.ToArray());

        // After READY each write is on the target as soon as it is acknowledged.
        for (int i = 0; i < 64; i++)
        {
            long offset = await WriteAsync(guest, shadow, random, buffer);
            Assert.Equal(buffer, _graph.Memory["dst"].Data.Slice((int)offset, Block).ToArray());
        }

        await _loop.RunAsync(job.Complete);
        await _events.CompletedTask.WaitAsync(TestContext.Current.CancellationToken);
        Assert.Null(_events.Failure);
        Assert.Equal(shadow, _graph.Memory["dst"].Data.ToArray());
        Assert.Same(_dst, guest.Node);
        Assert.Null(_graph.Graph.FindNode("mtop"));
    }

    [Fact]
    public async Task Complete_pivots_every_parent_of_the_source_and_drops_the_filter()
    {
        var export = _graph.Attach("src", BlockPermissions.ConsistentRead | BlockPermissions.Write, userName: "export");
        var (job, _, filter) = await StartAsync(writeBlocking: false, speed: 0);
        // Parents that come during the job: a second user on the filter and a node reading the source itself.
        var reader = _graph.Graph.AttachUser("reader", filter, BlockPermissions.ConsistentRead, BlockPermissions.All).Root!;
        BlockNode user = null!;
        await _loop.RunAsync(async () => user = await _graph.AddAsync(Opt.Raw("user", "src")));
        Assert.Same(_src, user.FindChild("file")!.Node);
        await _events.ReadyTask.WaitAsync(TestContext.Current.CancellationToken);

        await _loop.RunAsync(job.Complete);
        await _events.CompletedTask.WaitAsync(TestContext.Current.CancellationToken);

        Assert.Null(_events.Failure);
        Assert.Same(_dst, export.Node);
        Assert.Same(_dst, reader.Node);
        Assert.Same(_dst, user.FindChild("file")!.Node);
        Assert.Empty(_src.Parents);
        Assert.Null(_graph.Graph.FindNode("mtop"));
        Assert.Equal(_graph.Memory["src"].Data.ToArray(), _graph.Memory["dst"].Data.ToArray());
    }

    [Fact]
    public async Task A_soft_cancel_after_ready_puts_the_parents_back_on_the_source()
    {
        var export = _graph.Attach("src", BlockPermissions.ConsistentRead | BlockPermissions.Write, userName: "export");
        var (job, _, filter) = await StartAsync(writeBlocking: true, speed: 0);
        Assert.Same(filter, export.Node);
        await _events.ReadyTask.WaitAsync(TestContext.Current.CancellationToken);

        await _loop.RunAsync(() => job.UserCancelAsync(force: false).AsTask());
        await _events.CompletedTask.WaitAsync(TestContext.Current.CancellationToken);

        Assert.Same(_src, export.Node);
        Assert.DoesNotContain(_dst.Parents, p => p.Parent is BlockNode);
        Assert.Null(_graph.Graph.FindNode("mtop"));
        Assert.Equal(_graph.Memory["src"].Data.ToArray(), _graph.Memory["dst"].Data.ToArray());
    }

    private static async Task<long> WriteAsync(BlockChild guest, byte[] shadow, Random random, byte[] buffer)
    {
        long offset = random.Next(Size / Block) * (long)Block;
        random.NextBytes(buffer);
        await guest.WriteAsync(offset, buffer);
        buffer.CopyTo(shadow, offset);
        return offset;
    }

    private sealed class JobEvents : IBlockJobEvents
    {
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task ReadyTask => _ready.Task;
        public Task CompletedTask => _completed.Task;
        public string? Failure { get; private set; }

        public void Completed(BlockJobSnapshot job, string? error)
        {
            Failure = error;
            _completed.TrySetResult();
        }

        public void Cancelled(BlockJobSnapshot job) => _completed.TrySetResult();

        public void Ready(BlockJobSnapshot job) => _ready.TrySetResult();

        public void Pending(string type, string id)
        {
        }

        public void Error(string device, bool read, BlockErrorAction action)
        {
        }
    }
}
