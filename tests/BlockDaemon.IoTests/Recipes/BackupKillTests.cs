using System.Text.Json.Nodes;
using BlockDaemon.TestKit;

namespace BlockDaemon.IoTests.Recipes;

/// <summary>
/// kill -9 of blockd during an incremental backup (just started, half way, nearly done) and
/// during plain guest writes, with the guest writing through an NBD export all along. After
/// the crash: every image passes qemu-img check (the disk and a cut-short target may leak
/// clusters, nothing worse), the persistent bitmap is stored without the in-use flag, and
/// blockd reopening the disk lists it recording and consistent. The proof that no change was
/// lost: an incremental taken after the restart, on top of the last backup that completed,
/// equals the disk byte for byte. blockd only: qsd leaves its bitmaps in-use (inconsistent)
/// after kill -9, which is the point of blockd's crash-safe scheme (docs/architecture.md).
/// </summary>
public sealed class BackupKillTests : IDisposable
{
    private static readonly TimeSpan GuestInterval = TimeSpan.FromMilliseconds(2);
    // Slow enough that each kill point is reached with the job still running (the last one
    // leaves about a second of copying on a loaded machine), fast enough that a test takes
    // seconds: the incremental copies 5-10 MiB.
    private const long Speed = 2 << 20;
    private readonly TempDirectory _dir = new("blockd-backup-kill-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private string this[string name] => _dir[name];

    /// <summary>Where the kill lands: a fraction of the running incremental's progress, or no job at all.</summary>
    public static TheoryData<string> KillPoints => new() { "backup-early", "backup-mid", "backup-near-end", "guest-writes" };

    [Theory]
    [MemberData(nameof(KillPoints))]
    public async Task After_kill_9_the_next_incremental_still_holds_every_change_since_the_last_good_backup(string when)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        string disk = this["disk.qcow2"];
        var model = new byte[Images.DiskSize];
        await Images.CreateAsync(disk, Ct);
        await Images.FillAsync(disk, 0x10, 0, Images.DiskSize, model, Ct);
        string lastGood = this["full.qcow2"];
        string? cutShort = null;

        Directory.CreateDirectory(this["before"]);
        await using (var d = await RecipeDaemon.StartAsync("blockd", this["before"], Ct))
        {
            await d.ExecuteAsync("blockdev-add", BackupSteps.Qcow2("disk", disk), Ct);
            await d.AddExportAsync("disk", "disk", Ct);
            await using var guest = GuestWriter.Connect(d.ExportUri("disk"), Images.DiskSize);
            guest.Start(GuestInterval);
            await WriteSomeMoreAsync(guest, 20);

            await d.ExecuteAsync("transaction", new JsonObject
            {
                ["actions"] = new JsonArray(
                    BackupSteps.BitmapAdd("disk", "b"),
                    BackupSteps.Action("drive-backup", BackupSteps.DriveBackup("full", "disk", lastGood))),
            }, Ct);
            await BackupSteps.WaitCompletedAsync(d, ["full"], Ct);
            await WriteSomeMoreAsync(guest, 120);

            if (when == "guest-writes")
            {
                // The bitmap has been through a successful incremental (its successor became
                // the bitmap) before the crash; that incremental is the last good backup.
                string inc = this["inc1.qcow2"];
                await Images.CreateAsync(inc, Ct, Path.GetFileName(lastGood));
                await d.ExecuteAsync("drive-backup", BackupSteps.DriveBackup("inc1", "disk", inc, bitmap: "b"), Ct);
                await BackupSteps.WaitCompletedAsync(d, ["inc1"], Ct);
                lastGood = inc;
                await WriteSomeMoreAsync(guest, 60);
            }
            else
            {
                cutShort = this["cut.qcow2"];
                await Images.CreateAsync(cutShort, Ct, Path.GetFileName(lastGood));
                await d.ExecuteAsync("drive-backup", BackupSteps.DriveBackup("cut", "disk", cutShort, bitmap: "b", speed: Speed), Ct);
                double fraction = when switch { "backup-early" => 0, "backup-mid" => 0.5, _ => 0.8 };
                await WaitProgressAsync(d, "cut", fraction);
            }
            // Writes in flight when the daemon dies fail in the guest; those before must not have.
            Assert.Empty(guest.Failures);
            await d.KillHardAsync();
        }

        await Images.AssertCleanAsync(disk, Ct, leaksAllowed: true);
        await Images.AssertCleanAsync(this["full.qcow2"], Ct);
        if (cutShort is not null)
        {
            await Images.AssertCleanAsync(cutShort, Ct, leaksAllowed: true);
        }
        var stored = await BackupSteps.StoredBitmapsAsync(disk, Ct);
        Assert.Equal(["b"], stored.Keys);
        Assert.Equal("""["auto"]""", stored["b"]);

        Directory.CreateDirectory(this["after"]);
        string afterCrash = this["after.qcow2"];
        await Images.CreateAsync(afterCrash, Ct, Path.GetFileName(lastGood));
        await using (var d = await RecipeDaemon.StartAsync("blockd", this["after"], Ct))
        {
            await d.ExecuteAsync("blockdev-add", BackupSteps.Qcow2("disk", disk), Ct);
            var bitmap = Assert.Single(await BackupSteps.ListedBitmapsAsync(d, "disk", Ct));
            Assert.Equal("b", (string?)bitmap!["name"]);
            Assert.True((bool)bitmap["recording"]! && (bool)bitmap["persistent"]! && !(bool)bitmap["busy"]!, bitmap.ToJsonString());
            Assert.True(bitmap["inconsistent"] is null || !(bool)bitmap["inconsistent"]!, bitmap.ToJsonString());
            Assert.True((long)bitmap["count"]! > 0, "the guest wrote since the last good backup, yet the bitmap is empty: " + bitmap.ToJsonString());
            await d.ExecuteAsync("drive-backup", BackupSteps.DriveBackup("after", "disk", afterCrash, bitmap: "b"), Ct);
            await BackupSteps.WaitCompletedAsync(d, ["after"], Ct);
            await d.QuitAsync(Ct);
        }

        // The disk is the full copy to compare with: nothing writes to it any more.
        var compare = await ExternalTools.TryRunAsync(ExternalTools.QemuImg, ["compare", "-f", "qcow2", "-F", "qcow2", disk, afterCrash], ExternalTools.DefaultTimeout, Ct);
        Assert.True(compare.ExitCode == 0, $"kill -9 {when}: the incremental taken after the restart misses changes made since the last good backup:\n{compare}");
        await Images.AssertCleanAsync(afterCrash, Ct);
        await Images.AssertCleanAsync(disk, Ct, leaksAllowed: true);
        Assert.Equal("""["auto"]""", (await BackupSteps.StoredBitmapsAsync(disk, Ct))["b"]);
    }

    /// <summary>Polls the job until it has copied <paramref name="fraction"/> of its work; fails if it ends first.</summary>
    private static async Task WaitProgressAsync(RecipeDaemon d, string job, double fraction)
    {
        while (true)
        {
            var jobs = (await d.ExecuteAsync("query-block-jobs", null, Ct))!.AsArray();
            var running = jobs.SingleOrDefault(j => (string?)j!["device"] == job);
            Assert.True(running is not null, $"job {job} ended before {fraction:P0} of it was copied; lower {nameof(Speed)}");
            long len = (long)running["len"]!;
            Assert.True(len > 0, "the incremental has nothing to copy: " + running.ToJsonString());
            if ((long)running["offset"]! >= fraction * len)
            {
                return;
            }
            await Task.Delay(20, Ct);
        }
    }

    private static async Task WriteSomeMoreAsync(GuestWriter guest, int writes)
    {
        int target = guest.Acknowledged.Count + writes;
        while (guest.Acknowledged.Count < target && guest.Failures.Count == 0)
        {
            await Task.Delay(5, Ct);
        }
        Assert.Empty(guest.Failures);
    }
}
