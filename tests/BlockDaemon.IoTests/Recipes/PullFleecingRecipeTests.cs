using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using BlockDaemon.TestKit;

namespace BlockDaemon.IoTests.Recipes;

/// <summary>
/// The pull-backup flow of the design thread with checkpoints A, B and C, end to end: the guest
/// writes through an NBD export between checkpoints; a backup "since B" merges B and C into a
/// temporary bitmap, opens a point-in-time view (old style: a qcow2 overlay over the disk filled
/// by blockdev-backup sync=none; new style: copy-before-write slid under the guest's raw node by
/// blockdev-reopen, read through snapshot-access) and exports it with the bitmap. The bitmap's
/// map must be exactly the clusters written since B, and a full copy of the view (nbdcopy) must
/// equal the guest view taken when the backup started, although the guest overwrites those very
/// clusters while it is read. Then B is deleted by merging it into A, and a map since A is still
/// exact. Runs against qsd too, which proves the test (qsd cases skip when it is missing).
/// </summary>
public sealed class PullFleecingRecipeTests : IDisposable
{
    private const long Cluster = 64 << 10;
    private readonly TempDirectory _dir = new("blockd-pull-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string> Cases => new()
    {
        { "blockd", "snapshot-access" },
        { "blockd", "backup-sync-none" },
        { "qsd", "snapshot-access" },
        { "qsd", "backup-sync-none" },
    };

    // What the guest writes after each checkpoint: (pattern, offset, length).
    private static readonly (byte, long, long)[] AfterA = [(0x21, 1 << 20, 64 << 10), (0x22, 9 << 20, 4096)];
    private static readonly (byte, long, long)[] AfterB = [(0x31, 2 << 20, 64 << 10), (0x32, (10 << 20) + 4096, 8192), (0x33, 20 << 20, 128 << 10)];
    private static readonly (byte, long, long)[] AfterC = [(0x41, 3 << 20, 64 << 10), (0x42, 2 << 20, 4096), (0x43, (30 << 20) + 60 * 1024, 8192)];

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Pull_backup_since_a_checkpoint_exports_exactly_the_changes_and_the_point_in_time(string daemon, string style)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo, "nbdinfo", "nbdcopy");
        var model = new byte[Images.DiskSize];
        await Images.CreateAsync(_dir["disk.qcow2"], Ct);
        await Images.FillAsync(_dir["disk.qcow2"], 0x10, 0, Images.DiskSize, model, Ct);

        await using var d = await RecipeDaemon.StartAsync(daemon, _dir.Path, Ct);
        await d.ExecuteAsync("blockdev-add", new JsonObject
        {
            ["driver"] = "qcow2", ["node-name"] = "disk",
            ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = _dir["disk.qcow2"] },
        }, Ct);
        // The guest writes through a raw node, so a filter can be slid under it later.
        await d.ExecuteAsync("blockdev-add", new JsonObject { ["driver"] = "raw", ["node-name"] = "guest", ["file"] = "disk" }, Ct);
        await d.AddExportAsync("guest", "guest", Ct);
        string guestUri = d.ExportUri("guest");

        await d.ExecuteAsync("block-dirty-bitmap-add", new JsonObject { ["node"] = "disk", ["name"] = "A" }, Ct);
        await WriteAsync(guestUri, AfterA);
        await NextCheckpointAsync(d, "A", "B");
        await WriteAsync(guestUri, AfterB);
        await NextCheckpointAsync(d, "B", "C");
        await WriteAsync(guestUri, AfterC);

        // The backup starts: the guest view now is what the fleecing export must give.
        byte[] view = await Images.ReadAsync(guestUri, "raw", _dir.Path, Ct);
        string viewSum = Convert.ToHexString(SHA256.HashData(view));
        await StartFleecingAsync(d, style, since: ["B", "C"], newCheckpoint: "D");
        string fleeceUri = d.ExportUri("fleece");

        Assert.Equal(Clusters(AfterB.Concat(AfterC)), await DirtyMapAsync(fleeceUri, "tmp"));

        // The guest rewrites the clusters being backed up before the client reads them, and
        // again and again (and writes everywhere else too) while it copies the whole view.
        var backedUp = AfterB.Concat(AfterC).ToArray();
        await WriteAsync(guestUri, backedUp.Select(r => ((byte)0x7f, r.Item2, r.Item3)));
        await using var guest = GuestWriter.Connect(guestUri, Images.DiskSize, seed: 7);
        guest.Start(TimeSpan.FromMilliseconds(1));
        using var stopOverwriting = new CancellationTokenSource();
        var overwriter = OverwriteAsync(guestUri, backedUp, stopOverwriting.Token);
        await ExternalTools.RunAsync("nbdcopy", [fleeceUri, _dir["backup.raw"]], Ct);
        await stopOverwriting.CancelAsync();
        await overwriter;
        await guest.StopAsync();
        Assert.Empty(guest.Failures);

        byte[] backup = await File.ReadAllBytesAsync(_dir["backup.raw"], Ct);
        Assert.Equal(viewSum, Convert.ToHexString(SHA256.HashData(backup)));
        // The live disk did move on meanwhile: the backup is not simply the disk as it is now.
        byte[] now = await Images.ReadAsync(guestUri, "raw", _dir.Path, Ct);
        var cluster = new Range((int)AfterC[0].Item2, (int)(AfterC[0].Item2 + Cluster));
        Assert.False(view.AsSpan(cluster).SequenceEqual(now.AsSpan(cluster)), "the guest's overwrites did not reach the disk");

        await StopFleecingAsync(d, style);

        // Checkpoint B goes away, its bits kept in A: "since A" is still every write after A.
        await d.ExecuteAsync("transaction", new JsonObject
        {
            ["actions"] = new JsonArray(
                Action("block-dirty-bitmap-merge", new JsonObject { ["node"] = "disk", ["target"] = "A", ["bitmaps"] = new JsonArray("B") }),
                Action("block-dirty-bitmap-remove", new JsonObject { ["node"] = "disk", ["name"] = "B" })),
        }, Ct);
        await d.ExecuteAsync("transaction", new JsonObject
        {
            ["actions"] = new JsonArray(
                Action("block-dirty-bitmap-add", new JsonObject { ["node"] = "disk", ["name"] = "sinceA", ["disabled"] = true }),
                Action("block-dirty-bitmap-merge", new JsonObject { ["node"] = "disk", ["target"] = "sinceA", ["bitmaps"] = new JsonArray("A", "C", "D") })),
        }, Ct);
        await d.ExecuteAsync("block-export-add", new JsonObject
        {
            ["type"] = "nbd", ["id"] = "disk-ro", ["node-name"] = "disk", ["name"] = "disk-ro",
            ["bitmaps"] = new JsonArray(new JsonObject { ["node"] = "disk", ["name"] = "sinceA" }),
        }, Ct);
        var guestWrites = guest.Acknowledged.Select(w => ((byte)0, w.Offset, (long)GuestWriter.WriteSize));
        Assert.Equal(Clusters(AfterA.Concat(AfterB).Concat(AfterC).Concat(guestWrites)),
            await DirtyMapAsync(d.ExportUri("disk-ro"), "sinceA"));
        await d.QuitAsync(Ct);
    }

    private static JsonObject Action(string type, JsonObject data) => new() { ["type"] = type, ["data"] = data };

    private static Task NextCheckpointAsync(RecipeDaemon d, string current, string next) =>
        d.ExecuteAsync("transaction", new JsonObject
        {
            ["actions"] = new JsonArray(
                Action("block-dirty-bitmap-disable", new JsonObject { ["node"] = "disk", ["name"] = current }),
                Action("block-dirty-bitmap-add", new JsonObject { ["node"] = "disk", ["name"] = next })),
        }, Ct);

    // libvirt's pull backup begin: the temporary bitmap and the new checkpoint in one
    // transaction (with the sync=none job for the old style), then the view and its export.
    private async Task StartFleecingAsync(RecipeDaemon d, string style, string[] since, string newCheckpoint)
    {
        var actions = new JsonArray(
            Action("block-dirty-bitmap-add", new JsonObject { ["node"] = "disk", ["name"] = "tmp", ["disabled"] = true }),
            Action("block-dirty-bitmap-merge", new JsonObject
            {
                ["node"] = "disk", ["target"] = "tmp", ["bitmaps"] = new JsonArray([.. since.Select(s => JsonValue.Create(s))]),
            }),
            Action("block-dirty-bitmap-disable", new JsonObject { ["node"] = "disk", ["name"] = since[^1] }),
            Action("block-dirty-bitmap-add", new JsonObject { ["node"] = "disk", ["name"] = newCheckpoint }));
        string exported;
        if (style == "backup-sync-none")
        {
            await Images.CreateAsync(_dir["fleece.qcow2"], Ct, _dir["disk.qcow2"]);
            await d.ExecuteAsync("blockdev-add", new JsonObject
            {
                ["driver"] = "qcow2", ["node-name"] = "fleece", ["backing"] = "disk",
                ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = _dir["fleece.qcow2"] },
            }, Ct);
            actions.Add(Action("blockdev-backup", new JsonObject { ["job-id"] = "fleecing", ["device"] = "disk", ["target"] = "fleece", ["sync"] = "none" }));
            await d.ExecuteAsync("transaction", new JsonObject { ["actions"] = actions }, Ct);
            exported = "fleece";
        }
        else
        {
            await Images.CreateAsync(_dir["fleece.qcow2"], Ct);
            await d.ExecuteAsync("blockdev-add", new JsonObject
            {
                ["driver"] = "qcow2", ["node-name"] = "fleece",
                ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = _dir["fleece.qcow2"] },
            }, Ct);
            await d.ExecuteAsync("transaction", new JsonObject { ["actions"] = actions }, Ct);
            await d.ExecuteAsync("blockdev-add", new JsonObject { ["driver"] = "copy-before-write", ["node-name"] = "cbw", ["file"] = "disk", ["target"] = "fleece" }, Ct);
            await d.ExecuteAsync("blockdev-reopen", new JsonObject
            {
                ["options"] = new JsonArray(new JsonObject { ["driver"] = "raw", ["node-name"] = "guest", ["file"] = "cbw" }),
            }, Ct);
            await d.ExecuteAsync("blockdev-add", new JsonObject { ["driver"] = "snapshot-access", ["node-name"] = "access", ["file"] = "cbw" }, Ct);
            exported = "access";
        }
        await d.ExecuteAsync("block-export-add", new JsonObject
        {
            ["type"] = "nbd", ["id"] = "fleece", ["node-name"] = exported, ["name"] = "fleece",
            ["bitmaps"] = new JsonArray(new JsonObject { ["node"] = "disk", ["name"] = "tmp" }),
        }, Ct);
    }

    private static async Task StopFleecingAsync(RecipeDaemon d, string style)
    {
        await d.ExecuteAsync("block-export-del", new JsonObject { ["id"] = "fleece" }, Ct);
        await d.WaitEventAsync("BLOCK_EXPORT_DELETED", Ct, e => (string?)e["id"] == "fleece");
        if (style == "backup-sync-none")
        {
            await d.ExecuteAsync("job-cancel", new JsonObject { ["id"] = "fleecing" }, Ct);
            await d.WaitEventAsync("JOB_STATUS_CHANGE", Ct, e => (string?)e["id"] == "fleecing" && (string?)e["status"] == "null");
        }
        else
        {
            await d.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = "access" }, Ct);
            await d.ExecuteAsync("blockdev-reopen", new JsonObject
            {
                ["options"] = new JsonArray(new JsonObject { ["driver"] = "raw", ["node-name"] = "guest", ["file"] = "disk" }),
            }, Ct);
            await d.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = "cbw" }, Ct);
        }
        await d.ExecuteAsync("blockdev-del", new JsonObject { ["node-name"] = "fleece" }, Ct);
        await d.ExecuteAsync("block-dirty-bitmap-remove", new JsonObject { ["node"] = "disk", ["name"] = "tmp" }, Ct);
    }

    private static Task WriteAsync(string uri, IEnumerable<(byte Pattern, long Offset, long Length)> writes)
    {
        var args = new List<string> { "-f", "raw" };
        foreach (var (pattern, offset, length) in writes)
        {
            args.AddRange(["-c", string.Create(CultureInfo.InvariantCulture, $"write -q -P {pattern} {offset} {length}")]);
        }
        args.Add(uri);
        return ExternalTools.RunAsync(ExternalTools.QemuIo, args, Ct);
    }

    // Rewrites the given ranges with new patterns, one qemu-io run after another, until told to stop.
    private static async Task OverwriteAsync(string uri, (byte Pattern, long Offset, long Length)[] ranges, CancellationToken stop)
    {
        int runs = 0;
        do
        {
            byte pattern = (byte)(0x80 + runs % 100);
            await WriteAsync(uri, ranges.Select(r => (pattern, r.Offset, r.Length)));
            runs++;
        }
        while (!stop.IsCancellationRequested);
    }

    // The cluster-aligned extents the writes touch, merged, as (offset, length).
    private static List<(long, long)> Clusters(IEnumerable<(byte Pattern, long Offset, long Length)> writes)
    {
        var clusters = new SortedSet<long>();
        foreach (var (_, offset, length) in writes)
        {
            for (long c = offset / Cluster; c * Cluster < offset + length; c++)
            {
                clusters.Add(c);
            }
        }
        var extents = new List<(long, long)>();
        foreach (long c in clusters)
        {
            if (extents.Count > 0 && extents[^1].Item1 + extents[^1].Item2 == c * Cluster)
            {
                extents[^1] = (extents[^1].Item1, extents[^1].Item2 + Cluster);
            }
            else
            {
                extents.Add((c * Cluster, Cluster));
            }
        }
        return extents;
    }

    // nbdinfo --map of qemu:dirty-bitmap:NAME: the dirty extents (adjacent ones merged).
    private static async Task<List<(long, long)>> DirtyMapAsync(string uri, string bitmap)
    {
        var result = await ExternalTools.RunAsync("nbdinfo", [$"--map=qemu:dirty-bitmap:{bitmap}", uri], Ct);
        var extents = new List<(long, long)>();
        foreach (string line in result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 3 || fields[2] != "1")
            {
                continue;
            }
            long offset = long.Parse(fields[0], CultureInfo.InvariantCulture);
            long length = long.Parse(fields[1], CultureInfo.InvariantCulture);
            if (extents.Count > 0 && extents[^1].Item1 + extents[^1].Item2 == offset)
            {
                extents[^1] = (extents[^1].Item1, extents[^1].Item2 + length);
            }
            else
            {
                extents.Add((offset, length));
            }
        }
        return extents;
    }
}
