using System.Diagnostics;
using System.Text.Json.Nodes;
using BlockDaemon.Qcow2.Tests.Interop;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Crash;

/// <summary>
/// kill -9 of the real daemon while a guest writes through an NBD export of a qcow2 image with
/// a persistent dirty bitmap. After every kill the image passes `qemu-img check` (leaks at
/// worst), QEMU finds the bitmap present and consistent (qemu-nbd exports it, qemu-img info
/// shows no in-use flag), it covers every write acknowledged before the last flush, and it
/// misses no change: every granule whose data differs from the round's start is dirty, so an
/// incremental backup taken after the crash would be complete. Each round starts by clearing
/// the bitmap (the step after a backup), so the clear must be durable too.
/// </summary>
public sealed class BitmapKillTests : IDisposable
{
    private const long DiskSize = 64L << 20;
    private const int Granularity = 65536;
    private readonly TempDirectory _dir = new("blockd-bitmap-kill-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Kill_9_during_guest_writes_keeps_the_bitmap_consistent_and_complete()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo, "qemu-nbd", "nbdinfo");
        string image = _dir["disk.qcow2"];
        await Qemu.CreateAsync(image, DiskSize, null, Ct);
        var random = new Random(20261123);
        for (int round = 0; round < 5; round++)
        {
            byte[] before = await RawAsync(image, "before.raw");
            var flushed = new List<(long Offset, int Length)>();
            string socket = _dir["qmp-" + round + ".sock"];
            string nbd = _dir["nbd-" + round + ".sock"];
            using (var daemon = BlockdProcess.Start(socket))
            {
                await using var qmp = await QmpSocketClient.ConnectAsync(daemon.Socket, Ct);
                await ExpectReturnAsync(qmp, AddNode(image));
                await ExpectReturnAsync(qmp, round == 0
                    ? Command("block-dirty-bitmap-add", new JsonObject { ["node"] = "disk", ["name"] = "b", ["persistent"] = true, ["granularity"] = Granularity })
                    : Command("block-dirty-bitmap-clear", new JsonObject { ["node"] = "disk", ["name"] = "b" }));
                await ExpectReturnAsync(qmp, Command("nbd-server-start", new JsonObject
                {
                    ["addr"] = new JsonObject { ["type"] = "unix", ["data"] = new JsonObject { ["path"] = nbd } },
                }));
                await ExpectReturnAsync(qmp, Command("block-export-add", new JsonObject
                {
                    ["type"] = "nbd", ["id"] = "e", ["node-name"] = "disk", ["writable"] = true,
                }));

                // Acknowledged and flushed: these must be in the bitmap whatever happens next.
                var first = RandomWrites(random, 20, flushed, round);
                first.Add("flush");
                await Qemu.IoAsync($"nbd+unix:///disk?socket={nbd}", first, Ct, format: "raw");

                // In flight when the daemon dies: may or may not land, but if one lands its bit must be set.
                var writer = StartWriter(nbd, RandomWrites(random, 400, null, round + 100));
                await Task.Delay(random.Next(5, 250), Ct);
                await daemon.KillHardAsync(Ct);
                await StopAsync(writer);
            }

            var check = await Qemu.CheckAsync(image, Ct);
            Assert.True(check.ExitCode is 0 or 3, $"Round {round}: after kill -9, `qemu-img check` reports more than leaks:\n{check}");
            var info = await ExternalTools.RunAsync(ExternalTools.QemuImg, ["info", "--output=json", "-U", image], Ct);
            var bitmaps = JsonNode.Parse(info.Stdout)!["format-specific"]!["data"]!["bitmaps"]!.AsArray();
            var stored = Assert.Single(bitmaps);
            Assert.Equal("b", (string)stored!["name"]!);
            Assert.Equal("""["auto"]""", stored["flags"]!.ToJsonString());

            var dirty = await DirtyGranulesAsync(image);
            foreach (var (offset, length) in flushed)
            {
                for (long g = offset / Granularity; g <= (offset + length - 1) / Granularity; g++)
                {
                    Assert.True(dirty.Contains(g), $"Round {round}: flushed write at {offset} (+{length}) is not in the bitmap after kill -9");
                }
            }
            byte[] after = await RawAsync(image, "after.raw");
            for (long g = 0; g < DiskSize / Granularity; g++)
            {
                var a = before.AsSpan((int)(g * Granularity), Granularity);
                var b = after.AsSpan((int)(g * Granularity), Granularity);
                Assert.True(a.SequenceEqual(b) || dirty.Contains(g), $"Round {round}: granule {g} changed but its bit is clear after kill -9");
            }
        }
    }

    /// <summary>
    /// The libvirt pattern: every checkpoint's bitmap stays recording, so a disk carries several
    /// persistent bitmaps of different granularities; each round adds one more in a checkpoint
    /// transaction (and clears the oldest, as after a backup). After each kill -9 every bitmap is
    /// present and consistent for QEMU and for blockd reopening the image, and each one covers
    /// every write the guest saw acknowledged (the writer's own report), flushed or not: the
    /// bits reach the image before the data does.
    /// </summary>
    [Fact]
    public async Task Kill_9_with_several_recording_bitmaps_keeps_every_acknowledged_write_in_each()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo, "qemu-nbd", "nbdinfo");
        string image = _dir["multi.qcow2"];
        await Qemu.CreateAsync(image, DiskSize, null, Ct);
        var random = new Random(20261124);
        var bitmaps = new List<(string Name, long Granularity)> { ("g64k", 65536), ("g4k", 4096), ("g1m", 1 << 20) };
        int checkedWrites = 0;
        for (int round = 0; round < 4; round++)
        {
            string socket = _dir["mqmp-" + round + ".sock"];
            string nbd = _dir["mnbd-" + round + ".sock"];
            string writerOutput;
            using (var daemon = BlockdProcess.Start(socket))
            {
                await using var qmp = await QmpSocketClient.ConnectAsync(daemon.Socket, Ct);
                await ExpectReturnAsync(qmp, AddNode(image));
                if (round == 0)
                {
                    foreach (var (name, granularity) in bitmaps)
                    {
                        await ExpectReturnAsync(qmp, Command("block-dirty-bitmap-add", new JsonObject { ["node"] = "disk", ["name"] = name, ["persistent"] = true, ["granularity"] = granularity }));
                    }
                }
                else
                {
                    // Reopened after the kill: every bitmap is back, recording and consistent.
                    var nodes = await qmp.ExecuteAsync(Command("query-named-block-nodes", new JsonObject { ["flat"] = true }), Ct);
                    var listed = nodes["return"]!.AsArray().Single(n => (string)n!["node-name"]! == "disk")!["dirty-bitmaps"]!.AsArray();
                    Assert.Equal(bitmaps.Select(b => b.Name).Order(), listed.Select(b => (string)b!["name"]!).Order());
                    Assert.All(listed, b => Assert.True((bool)b!["recording"]! && (bool)b["persistent"]! && (b["inconsistent"] is null || !(bool)b["inconsistent"]!), b!.ToJsonString()));
                    string checkpoint = "c" + round;
                    long granularity = 512L << round;
                    await ExpectReturnAsync(qmp, Command("transaction", new JsonObject
                    {
                        ["actions"] = new JsonArray(
                            new JsonObject { ["type"] = "block-dirty-bitmap-add", ["data"] = new JsonObject { ["node"] = "disk", ["name"] = checkpoint, ["persistent"] = true, ["granularity"] = granularity } },
                            new JsonObject { ["type"] = "block-dirty-bitmap-clear", ["data"] = new JsonObject { ["node"] = "disk", ["name"] = "g64k" } }),
                    }));
                    bitmaps.Add((checkpoint, granularity));
                }
                await ExpectReturnAsync(qmp, Command("nbd-server-start", new JsonObject
                {
                    ["addr"] = new JsonObject { ["type"] = "unix", ["data"] = new JsonObject { ["path"] = nbd } },
                }));
                await ExpectReturnAsync(qmp, Command("block-export-add", new JsonObject
                {
                    ["type"] = "nbd", ["id"] = "e", ["node-name"] = "disk", ["writable"] = true,
                }));

                // No flush: what counts is what the writer was told had been written.
                var writer = StartWriter(nbd, RandomWrites(random, 600, null, round + 50).Select(c => c.Replace("write -q ", "write ", StringComparison.Ordinal)).ToList());
                var firstWrite = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var output = ReadLinesAsync(writer, firstWrite);
                // The kill lands mid-stream: after the first acknowledged write however slow the
                // writer starts (a loaded machine), then somewhere among the rest.
                await firstWrite.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
                await Task.Delay(random.Next(0, 150), Ct);
                await daemon.KillHardAsync(Ct);
                writerOutput = await output;
                await StopAsync(writer);
            }

            var acknowledged = Acknowledged(writerOutput);
            checkedWrites += acknowledged.Count;
            var check = await Qemu.CheckAsync(image, Ct);
            Assert.True(check.ExitCode is 0 or 3, $"Round {round}: after kill -9, `qemu-img check` reports more than leaks:\n{check}");
            var info = await ExternalTools.RunAsync(ExternalTools.QemuImg, ["info", "--output=json", "-U", image], Ct);
            var stored = JsonNode.Parse(info.Stdout)!["format-specific"]!["data"]!["bitmaps"]!.AsArray();
            Assert.Equal(bitmaps.Select(b => b.Name).Order(), stored.Select(b => (string)b!["name"]!).Order());
            Assert.All(stored, b => Assert.Equal("""["auto"]""", b!["flags"]!.ToJsonString()));
            foreach (var (name, granularity) in bitmaps)
            {
                var dirty = await DirtyGranulesAsync(image, name, granularity);
                foreach (var (offset, length) in acknowledged)
                {
                    for (long g = offset / granularity; g <= (offset + length - 1) / granularity; g++)
                    {
                        Assert.True(dirty.Contains(g), $"Round {round}: acknowledged write at {offset} (+{length}) is not in bitmap {name} after kill -9");
                    }
                }
            }
        }
        Assert.True(checkedWrites > 0, "no write was acknowledged before any kill: nothing was checked");
    }

    private static async Task<string> ReadLinesAsync(Process writer, TaskCompletionSource firstWrite)
    {
        var all = new System.Text.StringBuilder();
        while (await writer.StandardOutput.ReadLineAsync(Ct) is { } line)
        {
            all.Append(line).Append('\n');
            if (line.StartsWith("wrote ", StringComparison.Ordinal))
            {
                firstWrite.TrySetResult();
            }
        }
        // A writer that wrote nothing (it failed to connect) must not hang the test.
        firstWrite.TrySetResult();
        return all.ToString();
    }

    // qemu-io prints "wrote LEN/LEN bytes at offset OFF" for each write once it completed.
    private static List<(long Offset, int Length)> Acknowledged(string output)
    {
        var writes = new List<(long, int)>();
        foreach (string line in output.Split('\n'))
        {
            var match = System.Text.RegularExpressions.Regex.Match(line, @"^wrote (\d+)/\d+ bytes at offset (\d+)");
            if (match.Success)
            {
                writes.Add((long.Parse(match.Groups[2].Value), int.Parse(match.Groups[1].Value)));
            }
        }
        return writes;
    }

    private static List<string> RandomWrites(Random random, int count, List<(long, int)>? record, int pattern)
    {
        var commands = new List<string>();
        for (int i = 0; i < count; i++)
        {
            long offset = random.NextInt64(0, DiskSize / 4096) * 4096;
            int length = 4096 * random.Next(1, 5);
            length = (int)Math.Min(length, DiskSize - offset);
            commands.Add($"write -q -P {(pattern * 7 + i) % 250 + 1} {offset} {length}");
            record?.Add((offset, length));
        }
        return commands;
    }

    private Process StartWriter(string nbd, List<string> commands)
    {
        var info = new ProcessStartInfo(ExternalTools.Find(ExternalTools.QemuIo)!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-f");
        info.ArgumentList.Add("raw");
        foreach (string c in commands)
        {
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add(c);
        }
        info.ArgumentList.Add($"nbd+unix:///disk?socket={nbd}");
        var process = SpawnGate.Start(info);
        if (commands.All(c => c.Contains(" -q ", StringComparison.Ordinal)))
        {
            _ = process.StandardOutput.ReadToEndAsync();
        }
        _ = process.StandardError.ReadToEndAsync();
        return process;
    }

    private static async Task StopAsync(Process writer)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await writer.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            writer.Kill();
            await writer.WaitForExitAsync(Ct);
        }
        writer.Dispose();
    }

    private Task<HashSet<long>> DirtyGranulesAsync(string image) => DirtyGranulesAsync(image, "b", Granularity);

    // The bitmap's dirty granules as QEMU reads them: qemu-nbd exports it, nbdinfo maps it.
    private static async Task<HashSet<long>> DirtyGranulesAsync(string image, string name, long granularity)
    {
        var map = await ExternalTools.RunAsync("nbdinfo",
            [$"--map=qemu:dirty-bitmap:{name}", "--", "[", "qemu-nbd", "-r", "-f", "qcow2", "-B", name, image, "]"], Ct);
        var dirty = new HashSet<long>();
        foreach (string line in map.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            long offset = long.Parse(fields[0]);
            long length = long.Parse(fields[1]);
            if (fields[2] == "1")
            {
                for (long g = offset / granularity; g < (offset + length + granularity - 1) / granularity; g++)
                {
                    dirty.Add(g);
                }
            }
        }
        return dirty;
    }

    private async Task<byte[]> RawAsync(string image, string name)
    {
        string raw = _dir[name];
        File.Delete(raw);
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["convert", "-U", "-O", "raw", image, raw], Ct);
        return await File.ReadAllBytesAsync(raw, Ct);
    }

    private static async Task ExpectReturnAsync(QmpSocketClient qmp, string command)
    {
        var reply = await qmp.ExecuteAsync(command, Ct);
        Assert.True(reply.ContainsKey("return"), $"{command} failed: {reply.ToJsonString()}");
    }

    private static string Command(string name, JsonObject arguments) =>
        new JsonObject { ["execute"] = name, ["arguments"] = arguments }.ToJsonString();

    private static string AddNode(string image) => Command("blockdev-add", new JsonObject
    {
        ["driver"] = "qcow2",
        ["node-name"] = "disk",
        ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = image },
    });
}
