using System.Text.Json.Nodes;
using BlockDaemon.TestKit;

namespace BlockDaemon.IoTests.Recipes;

/// <summary>
/// The incremental-backup lifecycle of the talk, end to end, for two disks at once: one
/// transaction takes a full backup of each disk and adds its persistent bitmap at the same point
/// in time; the guests write through NBD exports all along; three incrementals follow, each a
/// grouped transaction of drive-backup sync=incremental into a qcow2 overlay of the previous
/// backup. The guest view of each disk is recorded (read through its export, kept as a file with
/// its checksum) at the instant each backup starts; at the end each backup chain must equal its
/// view, each incremental must hold exactly the clusters written since the previous backup
/// started, and every image must pass qemu-img check. Run against qsd too, which proves the test.
/// </summary>
public sealed class BackupLifecycleTests : IDisposable
{
    private static readonly TimeSpan GuestInterval = TimeSpan.FromMilliseconds(2);
    private static readonly string[] Disks = ["disk0", "disk1"];
    private readonly TempDirectory _dir = new("blockd-backup-lifecycle-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Daemons => new() { "blockd", "qsd" };

    private string this[string name] => _dir[name];

    [Theory]
    [MemberData(nameof(Daemons))]
    public async Task Full_then_three_incrementals_of_two_disks_each_restore_their_point_in_time(string daemon)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        var models = new Dictionary<string, byte[]>();
        byte pattern = 0x10;
        foreach (string disk in Disks)
        {
            models[disk] = new byte[Images.DiskSize];
            await Images.CreateAsync(this[disk + ".qcow2"], Ct);
            // Every byte non-zero, so a cluster copied into a backup is always allocated there.
            await Images.FillAsync(this[disk + ".qcow2"], pattern, 0, Images.DiskSize, models[disk], Ct);
            pattern += 0x10;
        }

        await using var d = await RecipeDaemon.StartAsync(daemon, _dir.Path, Ct);
        var guests = new Dictionary<string, GuestWriter>();
        try
        {
            int seed = 1;
            foreach (string disk in Disks)
            {
                await d.ExecuteAsync("blockdev-add", BackupSteps.Qcow2(disk, this[disk + ".qcow2"]), Ct);
                await d.AddExportAsync(disk, disk, Ct);
                guests[disk] = GuestWriter.Connect(d.ExportUri(disk), Images.DiskSize, seed++);
                guests[disk].Start(GuestInterval);
            }
            await WriteSomeMoreAsync(guests, 20);

            // Backup k of a disk: its image, the view it must hold, and the acknowledged writes
            // (by index) that had happened when it started.
            const int Backups = 4;
            var images = new Dictionary<string, string[]>();
            var views = new Dictionary<string, (string Path, string Sha256)[]>();
            var writesAtStart = new Dictionary<string, int[]>();
            foreach (string disk in Disks)
            {
                images[disk] = new string[Backups];
                views[disk] = new (string, string)[Backups];
                writesAtStart[disk] = new int[Backups];
            }

            for (int k = 0; k < Backups; k++)
            {
                var actions = new JsonArray();
                foreach (string disk in Disks)
                {
                    string image = this[$"{disk}-backup{k}.qcow2"];
                    images[disk][k] = image;
                    if (k == 0)
                    {
                        actions.Add(BackupSteps.BitmapAdd(disk, "b"));
                        actions.Add(BackupSteps.Action("drive-backup", BackupSteps.DriveBackup($"{disk}-b{k}", disk, image)));
                    }
                    else
                    {
                        await Images.CreateAsync(image, Ct, Path.GetFileName(images[disk][k - 1]));
                        actions.Add(BackupSteps.Action("drive-backup", BackupSteps.DriveBackup($"{disk}-b{k}", disk, image, bitmap: "b")));
                    }
                }

                // The point in time: both guests held between two writes, both views recorded,
                // then one transaction starts every backup.
                foreach (var guest in guests.Values)
                {
                    await guest.PauseAsync(Ct);
                }
                foreach (string disk in Disks)
                {
                    var view = (byte[])models[disk].Clone();
                    guests[disk].ApplyTo(view);
                    writesAtStart[disk][k] = guests[disk].Acknowledged.Count;
                    views[disk][k] = await BackupSteps.RecordViewAsync(d.ExportUri(disk), view, this[$"{disk}-view{k}.raw"], _dir.Path, Ct);
                }
                var transaction = new JsonObject { ["actions"] = actions };
                if (k > 0)
                {
                    transaction["properties"] = new JsonObject { ["completion-mode"] = "grouped" };
                }
                await d.ExecuteAsync("transaction", transaction, Ct);
                foreach (var guest in guests.Values)
                {
                    guest.Resume();
                }

                // The guests overwrite the disks while the jobs copy them.
                await WriteSomeMoreAsync(guests, 10);
                await BackupSteps.WaitCompletedAsync(d, Disks.Select(disk => $"{disk}-b{k}"), Ct);
                await WriteSomeMoreAsync(guests, 30);

                foreach (string disk in Disks)
                {
                    var bitmap = Assert.Single(await BackupSteps.ListedBitmapsAsync(d, disk, Ct));
                    Assert.Equal("b", (string?)bitmap!["name"]);
                    Assert.True((bool)bitmap["recording"]! && !(bool)bitmap["busy"]! && (bool)bitmap["persistent"]!, bitmap.ToJsonString());
                }
            }

            foreach (var (disk, guest) in guests)
            {
                await guest.PauseAndFlushAsync(Ct);
                guest.ApplyTo(models[disk]);
                await guest.StopAsync();
                Assert.Empty(guest.Failures);
            }
            await d.QuitAsync(Ct);

            foreach (string disk in Disks)
            {
                await Images.AssertHoldsAsync(models[disk], this[disk + ".qcow2"], _dir.Path, $"{disk} after the backups", Ct);
                await Images.AssertCleanAsync(this[disk + ".qcow2"], Ct);
                Assert.Equal("""["auto"]""", (await BackupSteps.StoredBitmapsAsync(this[disk + ".qcow2"], Ct))["b"]);
                for (int k = 0; k < Backups; k++)
                {
                    string image = images[disk][k];
                    await BackupSteps.AssertChainHoldsViewAsync(views[disk][k], image, $"{disk} backup {k}", Ct);
                    await Images.AssertCleanAsync(image, Ct);
                    Assert.Equal(k + 1, (await Images.ChainAsync(image, Ct)).Count);
                    if (k > 0)
                    {
                        // Incremental: exactly the clusters the guest wrote between the two starts.
                        var written = new SortedSet<long>(guests[disk].Acknowledged
                            .Skip(writesAtStart[disk][k - 1])
                            .Take(writesAtStart[disk][k] - writesAtStart[disk][k - 1])
                            .Select(w => w.Offset / BackupSteps.Cluster));
                        Assert.NotEmpty(written);
                        Assert.Equal(written, await BackupSteps.TopClustersAsync(image, Ct));
                    }
                }
            }
        }
        finally
        {
            foreach (var guest in guests.Values)
            {
                await guest.DisposeAsync();
            }
        }
    }

    /// <summary>Lets every guest write <paramref name="writes"/> more times (no timing is asserted).</summary>
    private static async Task WriteSomeMoreAsync(Dictionary<string, GuestWriter> guests, int writes)
    {
        var targets = guests.ToDictionary(g => g.Key, g => g.Value.Acknowledged.Count + writes);
        while (guests.Any(g => g.Value.Acknowledged.Count < targets[g.Key] && g.Value.Failures.Count == 0))
        {
            await Task.Delay(5, Ct);
        }
        Assert.All(guests.Values, g => Assert.Empty(g.Failures));
    }
}
