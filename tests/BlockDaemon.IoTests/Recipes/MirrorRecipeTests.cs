using System.Diagnostics;
using System.Text.Json.Nodes;
using BlockDaemon.TestKit;

namespace BlockDaemon.IoTests.Recipes;

/// <summary>
/// The recipes of the backing-chain and live block copy talks, end to end: the real daemon, a
/// guest writing through an NBD export all along, the images checked with qemu-img afterwards.
/// Each runs against qsd too, which proves the test itself (qsd cases skip when it is missing).
/// </summary>
public sealed class MirrorRecipeTests : IDisposable
{
    private static readonly TimeSpan GuestInterval = TimeSpan.FromMilliseconds(2);
    private readonly TempDirectory _dir = new("blockd-recipe-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Daemons => new() { "blockd", "qsd" };

    private string this[string name] => _dir[name];

    /// <summary>
    /// Live storage migration: the disk is a chain on "remote" storage (qcow2 over NBD, served
    /// by qemu-nbd); its backing image is copied to local storage beforehand, a local overlay is
    /// created over it, a shallow mirror (sync=top) copies the top, complete pivots the guest to
    /// the local chain, and an active commit folds the overlay into the local base. Nothing
    /// remote is used after that: the remote nodes are deleted and their servers stopped.
    /// </summary>
    [Theory]
    [MemberData(nameof(Daemons))]
    public async Task Live_storage_migration_moves_a_remote_chain_to_local_storage_under_a_writing_guest(string daemon)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo, "qemu-nbd");
        var model = new byte[Images.DiskSize];
        await Images.CreateAsync(this["remote-base.qcow2"], Ct);
        await Images.FillAsync(this["remote-base.qcow2"], 0x10, 0, Images.DiskSize, model, Ct);
        await Images.CreateAsync(this["remote-top.qcow2"], Ct, "remote-base.qcow2");
        await Images.FillAsync(this["remote-top.qcow2"], 0x20, 4 << 20, 8 << 20, model, Ct);
        // An NBD export has a fixed size: room for the guest's new clusters is made up front
        // (sparse space past the image's end, free by its refcounts), as a remote LUN would have.
        using (var top = new FileStream(this["remote-top.qcow2"], FileMode.Open, FileAccess.Write))
        {
            top.SetLength(3 * Images.DiskSize);
        }
        // The backing content is copied to local storage before the migration starts.
        await Images.ImgAsync(Ct, "convert", "-f", "qcow2", "-O", "qcow2", this["remote-base.qcow2"], this["local-base.qcow2"]);

        using var remoteBase = ServeRaw(this["remote-base.qcow2"], this["rbase.sock"]);
        using var remoteTop = ServeRaw(this["remote-top.qcow2"], this["rtop.sock"]);
        await using var d = await RecipeDaemon.StartAsync(daemon, _dir.Path, Ct);
        await d.ExecuteAsync("blockdev-add", Qcow2("rbase", Nbd(this["rbase.sock"]), readOnly: true), Ct);
        var disk = Qcow2("disk", Nbd(this["rtop.sock"]));
        disk["backing"] = "rbase";
        await d.ExecuteAsync("blockdev-add", disk, Ct);
        await d.AddExportAsync("guest", "disk", Ct);
        await using var guest = GuestWriter.Connect(d.ExportUri("guest"), Images.DiskSize);
        guest.Start(GuestInterval);

        await Images.CreateAsync(this["local-top.qcow2"], Ct, "local-base.qcow2");
        await d.ExecuteAsync("blockdev-add", Qcow2("lbase", File(this["local-base.qcow2"])), Ct);
        var localTop = Qcow2("ltop", File(this["local-top.qcow2"]));
        localTop["backing"] = "lbase";
        await d.ExecuteAsync("blockdev-add", localTop, Ct);

        await d.ExecuteAsync("blockdev-mirror", new JsonObject { ["job-id"] = "m", ["device"] = "disk", ["target"] = "ltop", ["sync"] = "top" }, Ct);
        await CompleteAsync(d, "m");
        await d.ExecuteAsync("block-commit", new JsonObject { ["job-id"] = "c", ["device"] = "ltop" }, Ct);
        await CompleteAsync(d, "c");

        // Nothing remote is in use any more: the remote nodes go, and so do their servers.
        await d.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = "disk" }, Ct);
        await d.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = "rbase" }, Ct);
        await d.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = "ltop" }, Ct);
        remoteBase.Kill();
        remoteTop.Kill();
        await WriteSomeMoreAsync(guest, 50);

        await StopGuestAndQuitAsync(d, guest, model);

        Assert.Equal([this["local-base.qcow2"]], await Images.ChainAsync(this["local-base.qcow2"], Ct));
        await Images.AssertHoldsAsync(model, this["local-base.qcow2"], _dir.Path, "the migrated disk", Ct);
        await Images.AssertCleanAsync(this["local-base.qcow2"], Ct);
        await Images.AssertCleanAsync(this["local-top.qcow2"], Ct);
    }

    /// <summary>
    /// Efficient live backup: an external snapshot makes the image read-only at one point in
    /// time (the guest paused between two writes), the image is copied while the guest writes
    /// to the wrapper, and an active commit with pivot folds the wrapper back and drops it.
    /// </summary>
    [Theory]
    [MemberData(nameof(Daemons))]
    public async Task Efficient_live_backup_copies_the_point_in_time_and_commits_the_wrapper_back(string daemon)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        var model = new byte[Images.DiskSize];
        await Images.CreateAsync(this["disk.qcow2"], Ct);
        await Images.FillAsync(this["disk.qcow2"], 0x10, 0, 16 << 20, model, Ct);
        await using var d = await RecipeDaemon.StartAsync(daemon, _dir.Path, Ct);
        await d.ExecuteAsync("blockdev-add", Qcow2("disk", File(this["disk.qcow2"])), Ct);
        await d.AddExportAsync("guest", "disk", Ct);
        await using var guest = GuestWriter.Connect(d.ExportUri("guest"), Images.DiskSize);
        guest.Start(GuestInterval);
        await WriteSomeMoreAsync(guest, 30);

        await guest.PauseAsync(Ct);
        await d.ExecuteAsync("blockdev-snapshot-sync", new JsonObject
        {
            ["node-name"] = "disk", ["snapshot-file"] = this["wrapper.qcow2"], ["snapshot-node-name"] = "wrapper", ["format"] = "qcow2",
        }, Ct);
        var pointInTime = (byte[])model.Clone();
        guest.ApplyTo(pointInTime);
        guest.Resume();

        // The image is read-only now: a plain (locking) qemu-img may copy it while the guest writes.
        await Images.ImgAsync(Ct, "convert", "-f", "qcow2", "-O", "qcow2", this["disk.qcow2"], this["backup.qcow2"]);
        await WriteSomeMoreAsync(guest, 30);
        await d.ExecuteAsync("block-commit", new JsonObject { ["job-id"] = "c", ["device"] = "wrapper" }, Ct);
        await CompleteAsync(d, "c");
        var nodes = (await d.ExecuteAsync("query-named-block-nodes", null, Ct))!.AsArray();
        Assert.DoesNotContain(nodes, n => (string?)n!["node-name"] == "wrapper");
        System.IO.File.Delete(this["wrapper.qcow2"]);
        await WriteSomeMoreAsync(guest, 30);

        await StopGuestAndQuitAsync(d, guest, model);

        await Images.AssertHoldsAsync(pointInTime, this["backup.qcow2"], _dir.Path, "the backup", Ct);
        await Images.AssertHoldsAsync(model, this["disk.qcow2"], _dir.Path, "the disk after the commit", Ct);
        Assert.Equal([this["disk.qcow2"]], await Images.ChainAsync(this["disk.qcow2"], Ct));
        await Images.AssertCleanAsync(this["disk.qcow2"], Ct);
        await Images.AssertCleanAsync(this["backup.qcow2"], Ct);
    }

    /// <summary>
    /// Revert to an external snapshot: the guest stops, its export and the overlay holding
    /// everything since the snapshot go, and a fresh overlay over the snapshot is exported:
    /// the guest sees the point in time, and writes on from there.
    /// </summary>
    [Theory]
    [MemberData(nameof(Daemons))]
    public async Task Reverting_to_an_external_snapshot_shows_the_point_in_time(string daemon)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        var model = new byte[Images.DiskSize];
        await Images.CreateAsync(this["disk.qcow2"], Ct);
        await Images.FillAsync(this["disk.qcow2"], 0x10, 0, 16 << 20, model, Ct);
        await using var d = await RecipeDaemon.StartAsync(daemon, _dir.Path, Ct);
        await d.ExecuteAsync("blockdev-add", Qcow2("disk", File(this["disk.qcow2"])), Ct);
        await d.AddExportAsync("guest", "disk", Ct);
        await using var guest = GuestWriter.Connect(d.ExportUri("guest"), Images.DiskSize, seed: 1);
        guest.Start(GuestInterval);
        await WriteSomeMoreAsync(guest, 30);

        await guest.PauseAsync(Ct);
        await Images.CreateAsync(this["overlay.qcow2"], Ct, "disk.qcow2");
        var overlay = Qcow2("overlay", File(this["overlay.qcow2"]));
        overlay["backing"] = null;
        await d.ExecuteAsync("blockdev-add", overlay, Ct);
        await d.ExecuteAsync("blockdev-snapshot", new JsonObject { ["node"] = "disk", ["overlay"] = "overlay" }, Ct);
        guest.ApplyTo(model);
        guest.Resume();
        await WriteSomeMoreAsync(guest, 60);

        // Revert: the guest is shut down, its writes since the snapshot are thrown away.
        await guest.StopAsync();
        Assert.Empty(guest.Failures);
        await guest.DisposeAsync();
        await d.ExecuteAsync("block-export-del", new JsonObject { ["id"] = "guest" }, Ct);
        await d.WaitEventAsync("BLOCK_EXPORT_DELETED", Ct);
        await d.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = "overlay" }, Ct);
        System.IO.File.Delete(this["overlay.qcow2"]);
        await Images.CreateAsync(this["overlay2.qcow2"], Ct, "disk.qcow2");
        var fresh = Qcow2("overlay2", File(this["overlay2.qcow2"]));
        fresh["backing"] = "disk";
        await d.ExecuteAsync("blockdev-add", fresh, Ct);
        await d.AddExportAsync("guest", "overlay2", Ct);
        Assert.Equal(model, await Images.ReadAsync(d.ExportUri("guest"), "raw", _dir.Path, Ct));

        await using var restarted = GuestWriter.Connect(d.ExportUri("guest"), Images.DiskSize, seed: 2);
        restarted.Start(GuestInterval);
        await WriteSomeMoreAsync(restarted, 30);
        await restarted.PauseAndFlushAsync(Ct);
        restarted.ApplyTo(model);
        await restarted.StopAsync();
        Assert.Empty(restarted.Failures);
        await d.QuitAsync(Ct);

        await Images.AssertHoldsAsync(model, this["overlay2.qcow2"], _dir.Path, "the reverted disk", Ct);
        Assert.Equal([this["overlay2.qcow2"], this["disk.qcow2"]], await Images.ChainAsync(this["overlay2.qcow2"], Ct));
        await Images.AssertCleanAsync(this["overlay2.qcow2"], Ct);
        await Images.AssertCleanAsync(this["disk.qcow2"], Ct);
    }

    // The guest's last writes go into the model; the export must read as the model and no guest
    // write may have failed; then the daemon quits.
    private async Task StopGuestAndQuitAsync(RecipeDaemon d, GuestWriter guest, byte[] model)
    {
        await guest.PauseAndFlushAsync(Ct);
        guest.ApplyTo(model);
        Assert.Equal(model, await Images.ReadAsync(d.ExportUri("guest"), "raw", _dir.Path, Ct));
        await guest.StopAsync();
        Assert.Empty(guest.Failures);
        await d.QuitAsync(Ct);
    }

    public static TheoryData<string, string> AbortCases()
    {
        var data = new TheoryData<string, string>();
        foreach (string daemon in new[] { "blockd", "qsd" })
        {
            foreach (string how in new[] { "cancel-before-ready", "cancel-after-ready", "report", "stop", "enospc", "ignore", "kill-9" })
            {
                data.Add(daemon, how);
            }
        }
        return data;
    }

    /// <summary>
    /// A mirror that does not finish (cancelled before or after READY, target write errors with
    /// each on-target-error policy, the daemon killed mid-copy) never damages the source: it
    /// holds every acknowledged guest write, and every image passes qemu-img check.
    /// </summary>
    [Theory]
    [MemberData(nameof(AbortCases))]
    public async Task A_mirror_that_does_not_finish_never_damages_the_source(string daemon, string how)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        var model = new byte[Images.DiskSize];
        await Images.CreateAsync(this["disk.qcow2"], Ct);
        await Images.FillAsync(this["disk.qcow2"], 0x10, 0, Images.DiskSize, model, Ct);
        await Images.CreateAsync(this["target.qcow2"], Ct);
        await using var d = await RecipeDaemon.StartAsync(daemon, _dir.Path, Ct);
        await d.ExecuteAsync("blockdev-add", Qcow2("disk", File(this["disk.qcow2"])), Ct);
        await d.AddExportAsync("guest", "disk", Ct);
        await using var guest = GuestWriter.Connect(d.ExportUri("guest"), Images.DiskSize);
        guest.Start(GuestInterval);

        JsonObject targetFile = File(this["target.qcow2"]);
        bool injectErrors = how is "report" or "stop" or "enospc" or "ignore";
        string policy = injectErrors ? how : "report";
        if (injectErrors)
        {
            var rule = new JsonObject { ["event"] = "write_aio", ["once"] = true };
            if (how == "enospc")
            {
                rule["errno"] = 28;
            }
            targetFile = new JsonObject { ["driver"] = "blkdebug", ["inject-error"] = new JsonArray(rule), ["image"] = targetFile };
        }
        await d.ExecuteAsync("blockdev-add", Qcow2("target", targetFile), Ct);
        var mirror = new JsonObject { ["job-id"] = "m", ["device"] = "disk", ["target"] = "target", ["sync"] = "full", ["on-target-error"] = policy };
        if (how is "cancel-before-ready" or "kill-9")
        {
            // Slow enough that it cannot be READY yet.
            mirror["speed"] = 1 << 20;
        }
        await d.ExecuteAsync("blockdev-mirror", mirror, Ct);
        await WriteSomeMoreAsync(guest, 20);

        bool targetComplete = false;
        switch (how)
        {
            case "cancel-before-ready":
                await d.ExecuteAsync("block-job-cancel", new JsonObject { ["device"] = "m" }, Ct);
                await d.WaitEventAsync("BLOCK_JOB_CANCELLED", Ct);
                break;
            case "cancel-after-ready":
            case "ignore":
                await d.WaitEventAsync("BLOCK_JOB_READY", Ct);
                await guest.PauseAsync(Ct);
                await d.ExecuteAsync("block-job-cancel", new JsonObject { ["device"] = "m" }, Ct);
                var done = await d.WaitEventAsync("BLOCK_JOB_COMPLETED", Ct);
                Assert.Null(done["data"]!["error"]);
                targetComplete = true;
                break;
            case "report":
                var failed = await d.WaitEventAsync("BLOCK_JOB_COMPLETED", Ct);
                Assert.NotNull(failed["data"]!["error"]);
                break;
            case "stop":
            case "enospc":
                await d.WaitEventAsync("BLOCK_JOB_ERROR", Ct);
                await WaitPausedAsync(d, "m");
                await d.ExecuteAsync("block-job-resume", new JsonObject { ["device"] = "m" }, Ct);
                await d.WaitEventAsync("BLOCK_JOB_READY", Ct);
                await guest.PauseAsync(Ct);
                await d.ExecuteAsync("block-job-cancel", new JsonObject { ["device"] = "m" }, Ct);
                await d.WaitEventAsync("BLOCK_JOB_COMPLETED", Ct);
                targetComplete = true;
                break;
            case "kill-9":
                await guest.PauseAndFlushAsync(Ct);
                guest.ApplyTo(model);
                await d.KillHardAsync();
                await guest.DisposeAsync();
                await Images.AssertHoldsAsync(model, this["disk.qcow2"], _dir.Path, "the source after kill -9", Ct);
                await Images.AssertCleanAsync(this["disk.qcow2"], Ct);
                // A copy cut short may leak clusters in its target, nothing worse.
                await Images.AssertCleanAsync(this["target.qcow2"], Ct, leaksAllowed: true);
                return;
        }

        if (targetComplete)
        {
            // The guest was paused before the cancel: the target is a consistent copy of that moment.
            var atCancel = (byte[])model.Clone();
            guest.ApplyTo(atCancel);
            await d.QuitAsync(Ct);
            await Images.AssertHoldsAsync(atCancel, this["target.qcow2"], _dir.Path, "the target of a cancelled READY mirror", Ct);
            model = atCancel;
        }
        else
        {
            await WriteSomeMoreAsync(guest, 20);
            await guest.PauseAndFlushAsync(Ct);
            guest.ApplyTo(model);
            Assert.Equal(model, await Images.ReadAsync(d.ExportUri("guest"), "raw", _dir.Path, Ct));
            await d.QuitAsync(Ct);
        }
        Assert.Empty(guest.Failures);
        await Images.AssertHoldsAsync(model, this["disk.qcow2"], _dir.Path, "the source", Ct);
        await Images.AssertCleanAsync(this["disk.qcow2"], Ct);
        await Images.AssertCleanAsync(this["target.qcow2"], Ct);
    }

    private static async Task WaitPausedAsync(RecipeDaemon d, string job)
    {
        while (true)
        {
            var jobs = (await d.ExecuteAsync("query-block-jobs", null, Ct))!.AsArray();
            if (jobs.Any(j => (string?)j!["device"] == job && (bool?)j!["paused"] == true))
            {
                return;
            }
            await Task.Delay(20, Ct);
        }
    }

    /// <summary>Waits for READY, completes, and checks the job ended without error.</summary>
    private static async Task CompleteAsync(RecipeDaemon d, string job)
    {
        await d.WaitEventAsync("BLOCK_JOB_READY", Ct, e => (string?)e["device"] == job);
        await d.ExecuteAsync("block-job-complete", new JsonObject { ["device"] = job }, Ct);
        var completed = await d.WaitEventAsync("BLOCK_JOB_COMPLETED", Ct, e => (string?)e["device"] == job);
        Assert.Null(completed["data"]!["error"]);
    }

    /// <summary>Lets the guest write <paramref name="writes"/> more times (no timing is asserted).</summary>
    private static async Task WriteSomeMoreAsync(GuestWriter guest, int writes)
    {
        int target = guest.Acknowledged.Count + writes;
        while (guest.Acknowledged.Count < target && guest.Failures.Count == 0)
        {
            await Task.Delay(5, Ct);
        }
        Assert.Empty(guest.Failures);
    }

    private static JsonObject Qcow2(string node, JsonObject file, bool readOnly = false)
    {
        var o = new JsonObject { ["driver"] = "qcow2", ["node-name"] = node, ["file"] = file };
        if (readOnly)
        {
            o["read-only"] = true;
        }
        return o;
    }

    private static JsonObject File(string path) => new() { ["driver"] = "file", ["filename"] = path };

    private static JsonObject Nbd(string socket) =>
        new() { ["driver"] = "nbd", ["server"] = new JsonObject { ["type"] = "unix", ["path"] = socket } };

    /// <summary>qemu-nbd serving an image file's bytes (the format is the daemon's business): the "remote" storage.</summary>
    private static RemoteServer ServeRaw(string image, string socket)
    {
        var process = DaemonLauncher.Start(ExternalTools.Find("qemu-nbd")!, ["-f", "raw", "-t", "-k", socket, image]);
        _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        _ = process.StandardError.ReadToEndAsync(CancellationToken.None);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!System.IO.File.Exists(socket))
        {
            Assert.True(DateTime.UtcNow < deadline && !process.HasExited, $"qemu-nbd did not start serving {image}");
            Thread.Sleep(20);
        }
        return new RemoteServer(process);
    }

    /// <summary>A qemu-nbd process, killed when disposed (or on purpose, earlier).</summary>
    private sealed class RemoteServer(Process process) : IDisposable
    {
        public void Kill()
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill();
                    process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
                // Already reaped.
            }
        }

        public void Dispose()
        {
            Kill();
            process.Dispose();
        }
    }
}
