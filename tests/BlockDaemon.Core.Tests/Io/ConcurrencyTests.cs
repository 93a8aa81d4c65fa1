using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;
using static BlockDaemon.Core.Graph.BlockPermissions;

namespace BlockDaemon.Core.Tests.Io;

/// <summary>
/// Unaligned writes are read-modify-write of whole alignment blocks; two of them in one block at
/// once must not undo each other. The driver yields or sleeps briefly on every call so requests interleave.
/// </summary>
public sealed class ConcurrencyTests
{
    private const int Size = 64 * 1024;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Concurrent_unaligned_writes_to_disjoint_bytes_of_shared_blocks_lose_nothing()
    {
        await using var t = NewGraph();
        await t.AddAsync(Opt.Memory("m0", ("size", Size)), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        var random = new Random(42);

        // Cut the disk into short random pieces (many per 4 KiB block), each written once by some task.
        var pieces = new List<(int Offset, byte[] Data)>();
        for (int offset = 0; offset < Size;)
        {
            int length = Math.Min(random.Next(1, 700), Size - offset);
            var data = new byte[length];
            random.NextBytes(data);
            pieces.Add((offset, data));
            offset += length;
        }
        var model = new byte[Size];
        foreach (var (offset, data) in pieces)
        {
            data.CopyTo(model, offset);
        }

        var shuffled = pieces.OrderBy(_ => random.Next()).ToArray();
        await Task.WhenAll(Enumerable.Range(0, 32).Select(worker => Task.Run(async () =>
        {
            for (int i = worker; i < shuffled.Length; i += 32)
            {
                await root.WriteAsync(shuffled[i].Offset, shuffled[i].Data, ct: Ct);
            }
        }, Ct)));

        Assert.Empty(t.Memory["m0"].Violations);
        var back = new byte[Size];
        await root.ReadAsync(0, back, Ct);
        Assert.Equal(-1, FirstDifference(model, back));
    }

    [Fact]
    public async Task Concurrent_overlapping_unaligned_writes_leave_every_byte_from_some_write_covering_it()
    {
        await using var t = NewGraph();
        await t.AddAsync(Opt.Memory("m0", ("size", Size)), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        var random = new Random(7);

        // Write k fills its range with the value k (1..250); any order is legal, but a byte must end
        // up holding the value of one of the writes that cover it, or 0 if none does.
        var writes = Enumerable.Range(1, 250).Select(k =>
        {
            int offset = random.Next(Size - 1);
            int length = random.Next(1, Math.Min(3000, Size - offset) + 1);
            return (Offset: offset, Length: length, Value: (byte)k);
        }).ToArray();
        await Task.WhenAll(writes.Select(w => Task.Run(async () =>
        {
            var data = new byte[w.Length];
            data.AsSpan().Fill(w.Value);
            await root.WriteAsync(w.Offset, data, ct: Ct);
        }, Ct)));

        var back = new byte[Size];
        await root.ReadAsync(0, back, Ct);
        for (int i = 0; i < Size; i++)
        {
            var covering = writes.Where(w => i >= w.Offset && i < w.Offset + w.Length).Select(w => w.Value).ToHashSet();
            bool legal = covering.Count == 0 ? back[i] == 0 : covering.Contains(back[i]);
            Assert.True(legal, $"byte {i} holds {back[i]}, written by none of [{string.Join(", ", covering)}]");
        }
    }

    [Fact]
    public async Task Two_unaligned_writes_in_one_block_do_not_undo_each_other()
    {
        // Deterministic version of the above: the first read-modify-write holds its write back
        // until a second write arrives, which can only happen if the second RMW was let in to
        // read the block too. A correct tracker keeps the second out, so the first gives up waiting.
        int writes = 0;
        var bothWriting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var t = new TestGraph(new MemoryDriverFactory
        {
            Limits = new DriverLimits { RequestAlignment = 4096 },
            Hook = async (call, ct) =>
            {
                if (call.Op == DriverOp.Write)
                {
                    if (Interlocked.Increment(ref writes) == 2)
                    {
                        bothWriting.TrySetResult();
                    }
                    await Task.WhenAny(bothWriting.Task, Task.Delay(500, ct));
                }
            },
        });
        await t.AddAsync(Opt.Memory("m0", ("size", Size)), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        await Task.WhenAll(
            root.WriteAsync(0, new byte[] { 1 }, ct: Ct).AsTask(),
            root.WriteAsync(100, new byte[] { 2 }, ct: Ct).AsTask());
        Assert.Equal((1, 2), (t.Memory["m0"].Data[0], t.Memory["m0"].Data[100]));
    }

    [Fact]
    public async Task Concurrent_aligned_writes_to_disjoint_blocks_run_in_parallel_and_lose_nothing()
    {
        await using var t = NewGraph();
        await t.AddAsync(Opt.Memory("m0", ("size", Size)), Ct);
        var root = t.Attach("m0", ConsistentRead | Write);
        var model = BlockAssert.Pattern(Size, 3);
        await Task.WhenAll(Enumerable.Range(0, Size / 4096).Select(block => Task.Run(async () =>
            await root.WriteAsync(block * 4096, model.AsMemory(block * 4096, 4096), ct: Ct), Ct)));
        Assert.True(t.Memory["m0"].Data.SequenceEqual(model));
    }

    private static TestGraph NewGraph() => new(new MemoryDriverFactory
    {
        Limits = new DriverLimits { RequestAlignment = 4096 },
        // Reads are where a read-modify-write waits for the disk: let them take a little while,
        // so others' requests run in between.
        Hook = async (call, ct) =>
        {
            if (call.Op == DriverOp.Read && Random.Shared.Next(2) == 0)
            {
                await Task.Delay(1, ct);
            }
            else
            {
                await Task.Yield();
            }
        },
    });

    private static int FirstDifference(byte[] expected, byte[] actual) =>
        expected.AsSpan().CommonPrefixLength(actual) is var n && n == expected.Length ? -1 : n;
}
