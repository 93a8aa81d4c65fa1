using System.Text.Json.Nodes;
using BlockDaemon.Qcow2.Tests.Interop;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// kill -9 of the real daemon while it works on a qcow2 image through QMP (blockdev-add,
/// block_resize growing the disk past L1 table clusters, blockdev-del, pipelined so the kill
/// lands mid-command): afterwards `qemu-img check` finds at worst leaks, the disk size is the
/// last acknowledged one or one that was in flight, and data written before still reads back.
/// </summary>
public sealed class DaemonKillTests : IDisposable
{
    private const int ClusterSize = 512;
    private const long InitialSize = 1 << 20;
    private readonly TempDirectory _dir = new("blockd-kill-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Kill_9_during_resizes_and_node_cycles_leaves_at_worst_leaks()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        string image = _dir["disk.qcow2"];
        // 512-byte clusters: one L1 cluster maps 2 MiB, so the resizes below move the L1 table.
        await Qemu.CreateAsync(image, InitialSize, $"cluster_size={ClusterSize},refcount_bits=64", Ct);
        await Qemu.IoAsync(image, Ct, "write -q -P 0x5a 0 65536", "write -q -P 0x6b 700000 3000");
        var random = new Random(20240607);
        long acknowledged = InitialSize;
        for (int round = 0; round < 4; round++)
        {
            var inFlight = new List<long>();
            using (var daemon = BlockdProcess.Start(_dir["qmp-" + round + ".sock"]))
            {
                await using var qmp = await QmpSocketClient.ConnectAsync(daemon.Socket, Ct);
                // One acknowledged cycle first: its resize must survive the kill.
                await qmp.ExecuteAsync(AddNode(image), Ct);
                acknowledged += 3L << 20;
                await qmp.ExecuteAsync(Resize(acknowledged), Ct);
                await qmp.ExecuteAsync(DeleteNode, Ct);

                // Then a pipelined burst, killed after a random delay, answers or not.
                var burst = new List<(string Command, long? Size)> { (AddNode(image), null) };
                long size = acknowledged;
                for (int i = 0; i < 6; i++)
                {
                    size += random.Next(1, 2048) * 512L;
                    burst.Add((Resize(size), size));
                }
                burst.Add((DeleteNode, null));
                burst.Add((AddNode(image), null));
                size += 2L << 20;
                burst.Add((Resize(size), size));
                foreach (var (command, s) in burst)
                {
                    await qmp.SendAsync(command, Ct);
                    if (s is { } grown)
                    {
                        inFlight.Add(grown);
                    }
                }
                acknowledged = await ReceiveUntilKilledAsync(qmp, daemon, burst, acknowledged, random.Next(0, 40));
            }
            var check = await Qemu.CheckAsync(image, Ct);
            Assert.True(check.ExitCode is 0 or 3, $"Round {round}: after kill -9, `qemu-img check` reports more than leaks:\n{check}");
            long virtualSize = await VirtualSizeAsync(image);
            Assert.True(virtualSize == acknowledged || inFlight.Contains(virtualSize),
                $"Round {round}: after kill -9 the disk is {virtualSize} bytes; acknowledged {acknowledged}, in flight {string.Join(", ", inFlight)}");
            acknowledged = virtualSize;
            await Qemu.IoAsync(image, Ct, "read -q -P 0x5a 0 65536", "read -q -P 0x6b 700000 3000", $"read -q -P 0 {InitialSize} 65536");
        }
    }

    // Reads answers until the kill timer fires, then kills; returns the newest acknowledged size.
    // An answer already on its way when the kill lands still counts: the daemon had acknowledged it.
    private static async Task<long> ReceiveUntilKilledAsync(QmpSocketClient qmp, BlockdProcess daemon,
        List<(string Command, long? Size)> burst, long acknowledged, int killAfterMs)
    {
        var killTimer = Task.Delay(killAfterMs, Ct);
        for (int i = 0; i < burst.Count; i++)
        {
            var answer = qmp.ReceiveAsync(Ct);
            if (await Task.WhenAny(answer, killTimer) == killTimer)
            {
                await daemon.KillHardAsync(Ct);
                try
                {
                    await answer;
                    acknowledged = burst[i].Size ?? acknowledged;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The connection died with the daemon: this answer never came.
                }
                return acknowledged;
            }
            await answer;
            acknowledged = burst[i].Size ?? acknowledged;
        }
        await daemon.KillHardAsync(Ct);
        return acknowledged;
    }

    private static string AddNode(string image) => new JsonObject
    {
        ["execute"] = "blockdev-add",
        ["arguments"] = new JsonObject
        {
            ["driver"] = "qcow2",
            ["node-name"] = "disk",
            ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = image },
        },
    }.ToJsonString();

    private static string Resize(long size) => new JsonObject
    {
        ["execute"] = "block_resize",
        ["arguments"] = new JsonObject { ["node-name"] = "disk", ["size"] = size },
    }.ToJsonString();

    private const string DeleteNode = """{"execute": "blockdev-del", "arguments": {"node-name": "disk"}}""";

    private static async Task<long> VirtualSizeAsync(string image)
    {
        var info = await ExternalTools.RunAsync(ExternalTools.QemuImg, ["info", "--output=json", "-U", image], Ct);
        return (long)JsonNode.Parse(info.Stdout)!["virtual-size"]!;
    }
}
