using System.Text.Json.Nodes;
using BlockDaemon.Core.Drivers.CopyBeforeWrite;
using BlockDaemon.Core.Graph;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qmp.Tests.Backup;

/// <summary>
/// A backup holds the disk as it was when the job started: a writer keeps overwriting random
/// blocks through a user edge (as an export would) while a throttled full backup runs, and the
/// target ends up byte for byte equal to the disk's content at the start. With a bitmap, the
/// writes made during the job are exactly what the bitmap holds afterwards.
/// </summary>
public sealed class BackupPointInTimeTests : IDisposable
{
    private const int DiskSize = 2 << 20;
    private const int Block = 4096;
    private readonly TempDirectory _dir = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task The_target_holds_the_disk_as_it_was_when_the_job_started()
    {
        await using var harness = new QmpHarness();
        harness.Graph.RegisterDriver(new CopyBeforeWriteDriverFactory());
        var client = await harness.ConnectNegotiatedAsync();
        string diskPath = _dir.CreateFile("disk.raw", DiskSize);
        string targetPath = _dir.CreateFile("target.raw", DiskSize);
        var original = new byte[DiskSize];
        Random.Shared.NextBytes(original);
        await File.WriteAllBytesAsync(diskPath, original, Ct);
        await CommandAsync(client, Add("disk", diskPath));
        await CommandAsync(client, Add("target", targetPath));
        await CommandAsync(client, """{"execute": "block-dirty-bitmap-add", "arguments": {"node": "disk", "name": "b0"}}""");
        var guest = await harness.Loop.InvokeAsync(() => Task.FromResult(harness.Graph.AttachUser(null, harness.Graph.GetNode("disk"),
            BlockPermissions.ConsistentRead | BlockPermissions.Write, BlockPermissions.All).Root!));

        await CommandAsync(client, """{"execute": "blockdev-backup", "arguments": {"job-id": "j", "device": "disk", "target": "target", "sync": "full", "speed": 2097152}}""");
        var written = new HashSet<int>();
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            var data = new byte[Block];
            while (!stop.IsCancellationRequested)
            {
                int block = Random.Shared.Next(DiskSize / Block);
                Random.Shared.NextBytes(data);
                await guest.WriteAsync((long)block * Block, data, ct: Ct);
                lock (written)
                {
                    written.Add(block);
                }
            }
        }, Ct);
        await WaitForEventAsync(client, "BLOCK_JOB_COMPLETED");
        await stop.CancelAsync();
        await writer;

        Assert.NotEmpty(written);
        Assert.Equal(original, await File.ReadAllBytesAsync(targetPath, Ct));
        // The bitmap recorded every block written, from before the job on (it was not the sync bitmap).
        var sha = await CommandAsync(client, """{"execute": "query-named-block-nodes", "arguments": {"flat": true}}""");
        var disk = sha["return"]!.AsArray().Single(n => n!["node-name"]!.GetValue<string>() == "disk")!;
        long count = disk["dirty-bitmaps"]!.AsArray().Single()!["count"]!.GetValue<long>();
        Assert.Equal(written.Select(b => b * Block / 65536).Distinct().Count() * 65536L, count);
        // The filter is gone and the guest's edge is back on the disk.
        Assert.Same(harness.Graph.GetNode("disk"), guest.Node);
        Assert.DoesNotContain(harness.Graph.Nodes, n => n.DriverName == "copy-before-write");
    }

    private static string Add(string name, string path) => new JsonObject
    {
        ["execute"] = "blockdev-add",
        ["arguments"] = new JsonObject
        {
            ["driver"] = "raw",
            ["node-name"] = name,
            ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = path },
        },
    }.ToJsonString();

    // Sends a command and returns its reply, skipping the events that come first.
    private static async Task<JsonObject> CommandAsync(QmpClient client, string request)
    {
        var reply = JsonNode.Parse(await client.CommandLineAsync(request))!.AsObject();
        while (reply.ContainsKey("event"))
        {
            reply = (await client.ReadAsync())!.AsObject();
        }
        Assert.False(reply.ContainsKey("error"), reply.ToJsonString());
        return reply;
    }

    private static async Task WaitForEventAsync(QmpClient client, string name)
    {
        while (true)
        {
            var message = (await client.ReadAsync())!.AsObject();
            if (message["event"]?.GetValue<string>() == name)
            {
                Assert.Null(message["data"]!["error"]);
                return;
            }
        }
    }
}
