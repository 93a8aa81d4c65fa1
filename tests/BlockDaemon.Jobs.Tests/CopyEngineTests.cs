using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Jobs.Copy;
using BlockDaemon.TestKit;

namespace BlockDaemon.Jobs.Tests;

public sealed class CopyEngineTests : IAsyncLifetime
{
    private const int Size = 1 << 20;
    private readonly TestGraph _graph = new();
    private BlockChild _source = null!;
    private BlockChild _target = null!;

    public async ValueTask InitializeAsync()
    {
        await _graph.AddAsync(Opt.Memory("src", ("size", Size)));
        await _graph.AddAsync(Opt.Memory("dst", ("size", Size)));
        _source = _graph.Attach("src", BlockPermissions.ConsistentRead);
        _target = _graph.Attach("dst", BlockPermissions.Write);
        var data = _graph.Memory["src"].Data;
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(i / 4096 + 1);
        }
        _graph.Memory["dst"].Data.Fill(0xEE);
        _graph.Memory["src"].ClearLog();
        _graph.Memory["dst"].ClearLog();
    }

    public ValueTask DisposeAsync() => _graph.DisposeAsync();

    // 0-256K copy, 256K-512K zero, 512K-768K skip, 768K-1M copy.
    private static ValueTask<CopyExtent> Plan(long offset, long length, CancellationToken ct)
    {
        const long quarter = Size / 4;
        long end = Math.Min(offset + length, (offset / quarter + 1) * quarter);
        var action = (offset / quarter) switch
        {
            1 => CopyAction.Zero,
            2 => CopyAction.Skip,
            _ => CopyAction.Copy,
        };
        return ValueTask.FromResult(new CopyExtent(end - offset, action));
    }

    [Fact]
    public async Task With_ReadCopies_chunks_are_only_read_and_failures_are_reads()
    {
        var job = new TestCopyJob();
        _graph.Memory["src"].Hook = (call, _) => call.Op == DriverOp.Read && call.Offset == 768 << 10
            ? throw new BlockException(BlockErrorKind.IoError, "boom")
            : ValueTask.CompletedTask;
        var engine = new CopyEngine(_source, _source, Plan, new CopyOptions { ChunkSize = 64 << 10, ReadCopies = true });

        await Assert.ThrowsAsync<BlockException>(() => engine.RunAsync(job, 0, Size, TestContext.Current.CancellationToken).AsTask());

        Assert.Empty(_graph.Memory["src"].CallsOf(DriverOp.Write));
        Assert.Empty(_graph.Memory["src"].CallsOf(DriverOp.WriteZeroes));
        // Zero ranges are read too: the source decides what reading them copies.
        Assert.Contains(_graph.Memory["src"].CallsOf(DriverOp.Read), c => c.Offset == 256 << 10);
        Assert.DoesNotContain(_graph.Memory["src"].CallsOf(DriverOp.Read), c => c.Offset == 512 << 10);
        Assert.Equal(CopyOperation.Read, Assert.Single(job.Errors).Operation);
    }

    [Fact]
    public async Task Plan_decides_copy_zero_and_skip_and_progress_ends_equal()
    {
        var job = new TestCopyJob();
        var engine = new CopyEngine(_source, _target, Plan, new CopyOptions { ChunkSize = 64 << 10, MaxInFlight = 4 });

        await engine.RunAsync(job, 0, Size, TestContext.Current.CancellationToken);

        var src = _graph.Memory["src"].Data.ToArray();
        var dst = _graph.Memory["dst"].Data.ToArray();
        Assert.Equal(src[..(Size / 4)], dst[..(Size / 4)]);
        Assert.All(dst[(Size / 4)..(Size / 2)], b => Assert.Equal(0, b));
        Assert.All(dst[(Size / 2)..(3 * Size / 4)], b => Assert.Equal(0xEE, b));
        Assert.Equal(src[(3 * Size / 4)..], dst[(3 * Size / 4)..]);
        // Zeroes were not moved as data, and nothing was read where the plan said zero or skip.
        var dstDriver = _graph.Memory["dst"];
        Assert.DoesNotContain(dstDriver.CallsOf(DriverOp.Write), c => c.Offset < Size / 2 && c.End > Size / 4);
        Assert.Contains(dstDriver.CallsOf(DriverOp.WriteZeroes), c => c.Offset >= Size / 4 && c.End <= Size / 2);
        Assert.DoesNotContain(_graph.Memory["src"].CallsOf(DriverOp.Read), c => c.Offset < 3 * Size / 4 && c.End > Size / 4);
        Assert.Equal(Size, job.Total);
        Assert.Equal(Size, job.Done);
        Assert.Equal(job.ProgressSamples.Order(), job.ProgressSamples);
    }

    [Fact]
    public async Task A_job_woken_from_its_rate_limit_sleep_sends_its_next_chunk_at_once()
    {
        // One byte a second: every chunk after the first owes a long wait.
        var job = new TestCopyJob { WokenEarly = true };
        job.Limiter.Speed = 1;
        var engine = new CopyEngine(_source, _target, (o, n, _) => ValueTask.FromResult(new CopyExtent(n, CopyAction.Copy)),
            new CopyOptions { ChunkSize = 256 << 10 });

        await engine.RunAsync(job, 0, Size, TestContext.Current.CancellationToken);

        // One sleep before each later chunk, each cut short: the job did not sleep again for the rest.
        Assert.Equal(3, job.Sleeps.Count);
        Assert.Equal(Size, job.Done);
    }

    [Fact]
    public async Task Data_that_reads_as_zeroes_is_written_as_zeroes()
    {
        _graph.Memory["src"].Data[..(128 << 10)].Clear();
        var job = new TestCopyJob();
        var engine = new CopyEngine(_source, _target, (o, n, _) => ValueTask.FromResult(new CopyExtent(n, CopyAction.Copy)),
            new CopyOptions { ChunkSize = 64 << 10 });

        await engine.RunAsync(job, 0, 128 << 10, TestContext.Current.CancellationToken);

        Assert.Empty(_graph.Memory["dst"].CallsOf(DriverOp.Write));
        Assert.NotEmpty(_graph.Memory["dst"].CallsOf(DriverOp.WriteZeroes));
    }

    [Fact]
    public async Task Up_to_max_in_flight_chunks_run_at_once()
    {
        const int inFlight = 4;
        var arrived = 0;
        var allThere = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int maxSeen = 0;
        _graph.Memory["src"].Hook = async (call, ct) =>
        {
            if (call.Op != DriverOp.Read)
            {
                return;
            }
            int now = Interlocked.Increment(ref arrived);
            InterlockedMax(ref maxSeen, now);
            if (now == inFlight)
            {
                allThere.TrySetResult();
            }
            // Every read waits until four are in flight at once: the copy would hang if the engine
            // ran them one by one (the test's token bounds that).
            await allThere.Task.WaitAsync(ct);
            Interlocked.Decrement(ref arrived);
        };
        var job = new TestCopyJob();
        var engine = new CopyEngine(_source, _target, (o, n, _) => ValueTask.FromResult(new CopyExtent(n, CopyAction.Copy)),
            new CopyOptions { ChunkSize = 64 << 10, MaxInFlight = inFlight });
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(30));

        await engine.RunAsync(job, 0, Size, cts.Token);

        Assert.Equal(inFlight, maxSeen);
        Assert.Equal(_graph.Memory["src"].Data.ToArray(), _graph.Memory["dst"].Data.ToArray());
    }

    [Fact]
    public async Task A_failed_write_under_report_ends_the_copy_with_its_error()
    {
        _graph.Memory["dst"].Hook = (call, _) => call.Op == DriverOp.Write && call.Offset == 128 << 10
            ? throw new BlockException(BlockErrorKind.IoError, "boom") : ValueTask.CompletedTask;
        var job = new TestCopyJob();
        var engine = new CopyEngine(_source, _target, (o, n, _) => ValueTask.FromResult(new CopyExtent(n, CopyAction.Copy)),
            new CopyOptions { ChunkSize = 64 << 10, MaxInFlight = 1 });

        var e = await Assert.ThrowsAsync<BlockException>(() => engine.RunAsync(job, 0, Size, TestContext.Current.CancellationToken).AsTask());

        Assert.Equal("boom", e.Message);
        Assert.Equal(CopyOperation.Write, Assert.Single(job.Errors).Operation);
        Assert.True(job.Done < Size);
    }

    // qsd's mirror sends a whole batch before it looks at errors; stream and commit stop at once.
    [Theory]
    [InlineData(true, 16)]
    [InlineData(false, 1)]
    public async Task A_failure_stops_new_chunks_unless_the_range_is_settled_after(bool settleAfterRange, int writes)
    {
        _graph.Memory["dst"].Hook = (call, _) => call.Op == DriverOp.Write && call.Offset == 0
            ? throw new BlockException(BlockErrorKind.IoError, "boom") : ValueTask.CompletedTask;
        var job = new TestCopyJob();
        var engine = new CopyEngine(_source, _target, (o, n, _) => ValueTask.FromResult(new CopyExtent(n, CopyAction.Copy)),
            new CopyOptions { ChunkSize = 64 << 10, MaxInFlight = 16, SettleAfterRange = settleAfterRange });

        await Assert.ThrowsAsync<BlockException>(() => engine.RunAsync(job, 0, Size, TestContext.Current.CancellationToken).AsTask());

        Assert.Equal(writes, _graph.Memory["dst"].CallsOf(DriverOp.Write).Count());
        Assert.Equal((writes - 1) * (64L << 10), job.Done);
    }

    [Fact]
    public async Task Ignore_goes_on_to_the_end_then_fails_and_retry_copies_the_chunk_again()
    {
        int failures = 0;
        _graph.Memory["src"].Hook = (call, _) => call.Op == DriverOp.Read && call.Offset == 256 << 10 && Interlocked.Increment(ref failures) <= 2
            ? throw new BlockException(BlockErrorKind.IoError, "read failed") : ValueTask.CompletedTask;
        var ignoring = new TestCopyJob((_, _) => CopyErrorAction.Ignore);
        var engine = new CopyEngine(_source, _target, (o, n, _) => ValueTask.FromResult(new CopyExtent(n, CopyAction.Copy)),
            new CopyOptions { ChunkSize = 64 << 10 });

        await Assert.ThrowsAsync<BlockException>(() => engine.RunAsync(ignoring, 0, Size, TestContext.Current.CancellationToken).AsTask());
        Assert.Equal(Size, ignoring.Done);
        Assert.Equal(_graph.Memory["src"].Data[(512 << 10)..].ToArray(), _graph.Memory["dst"].Data[(512 << 10)..].ToArray());

        var retrying = new TestCopyJob((_, _) => CopyErrorAction.Retry);
        await engine.RunAsync(retrying, 0, Size, TestContext.Current.CancellationToken);
        Assert.Single(retrying.Errors);
        Assert.True(retrying.PausePoints >= 1);
        Assert.Equal(_graph.Memory["src"].Data.ToArray(), _graph.Memory["dst"].Data.ToArray());
    }

    [Fact]
    public async Task A_requested_pause_is_taken_between_chunks()
    {
        var job = new TestCopyJob { PauseRequested = true };
        var engine = new CopyEngine(_source, _target, (o, n, _) => ValueTask.FromResult(new CopyExtent(n, CopyAction.Copy)));

        await engine.RunAsync(job, 0, Size, TestContext.Current.CancellationToken);

        Assert.Equal(1, job.PausePoints);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}
