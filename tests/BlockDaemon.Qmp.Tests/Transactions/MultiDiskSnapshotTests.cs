using System.Buffers.Binary;
using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Qcow2;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qmp.Tests.Transactions;

/// <summary>
/// A transaction of external snapshots over three disks is one point in time: a writer that
/// writes numbered records round-robin over the disks, each after the previous one completed,
/// runs through the transaction; the old tops then hold exactly a prefix of the records, and
/// the overlays' view holds all of them.
/// </summary>
public sealed class MultiDiskSnapshotTests : IDisposable
{
    private const int DiskSize = 4 << 20;
    private const int Records = 6000;
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_old_tops_hold_a_prefix_of_causally_ordered_writes()
    {
        await using var harness = new QmpHarness();
        harness.Graph.RegisterDriver(new Qcow2DriverFactory());
        var client = await harness.ConnectNegotiatedAsync();
        var disks = new BlockChild[3];
        for (int d = 0; d < 3; d++)
        {
            string path = _dir.CreateFile($"d{d}.raw", DiskSize);
            var add = new JsonObject
            {
                ["execute"] = "blockdev-add",
                ["arguments"] = new JsonObject
                {
                    ["driver"] = "raw",
                    ["node-name"] = $"d{d}",
                    ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = path },
                },
            };
            Assert.Equal("""{"return": {}}""", await client.CommandLineAsync(add.ToJsonString()));
        }
        // Users like exports, attached on the control loop.
        await harness.Loop.InvokeAsync(() =>
        {
            for (int d = 0; d < 3; d++)
            {
                disks[d] = harness.Graph.AttachUser(null, harness.Graph.GetNode($"d{d}"), BlockPermissions.ConsistentRead | BlockPermissions.Write, BlockPermissions.All).Root!;
            }
            return Task.FromResult<object?>(null);
        });

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writer = Task.Run(async () =>
        {
            var record = new byte[512];
            for (int i = 1; i <= Records; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(record, i);
                await disks[i % 3].WriteAsync(Offset(i), record, ct: Ct);
                if (i == 50)
                {
                    started.SetResult();
                }
            }
        }, Ct);
        await started.Task;
        string actions = string.Join(", ", Enumerable.Range(0, 3).Select(d =>
            $$$"""{"type": "blockdev-snapshot-sync", "data": {"node-name": "d{{{d}}}", "snapshot-file": "{{{_dir[$"o{d}.qcow2"]}}}", "snapshot-node-name": "o{{{d}}}"}}"""));
        Assert.Equal("""{"return": {}}""", await client.CommandLineAsync($$$"""{"execute": "transaction", "arguments": {"actions": [{{{actions}}}]}}"""));
        await writer;

        var inOldTops = new bool[Records + 1];
        for (int d = 0; d < 3; d++)
        {
            Assert.Equal($"o{d}", disks[d].Node.NodeName);
            var raw = File.ReadAllBytes(_dir[$"d{d}.raw"]);
            var view = new byte[DiskSize];
            await disks[d].ReadAsync(0, view, Ct);
            for (int i = 1; i <= Records; i++)
            {
                if (i % 3 != d)
                {
                    continue;
                }
                inOldTops[i] = BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan((int)Offset(i))) == i;
                Assert.Equal(i, BinaryPrimitives.ReadInt32LittleEndian(view.AsSpan((int)Offset(i))));
            }
        }
        int prefix = Array.IndexOf(inOldTops, false, 1);
        // Should the writer have finished first, every record is in the old tops (still a prefix).
        prefix = prefix < 0 ? Records + 1 : prefix;
        Assert.True(prefix > 50);
        Assert.All(Enumerable.Range(prefix, Records - prefix + 1), i => Assert.False(inOldTops[i], $"record {i} is in an old top after record {prefix} is missing"));
    }

    private static long Offset(int record) => (long)(record / 3) * 512;
}
