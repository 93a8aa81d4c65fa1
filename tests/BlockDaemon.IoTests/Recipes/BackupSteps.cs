using System.Security.Cryptography;
using System.Text.Json.Nodes;
using BlockDaemon.TestKit;

namespace BlockDaemon.IoTests.Recipes;

/// <summary>
/// Steps the backup recipes share: the QMP arguments of nodes and backup actions, waiting for a
/// set of jobs to end, recording a disk's guest view as a file, and reading what qemu-img says
/// about the clusters and the bitmaps an image holds.
/// </summary>
internal static class BackupSteps
{
    public const int Cluster = 65536;

    public static JsonObject Qcow2(string node, string path) => new()
    {
        ["driver"] = "qcow2", ["node-name"] = node, ["file"] = new JsonObject { ["driver"] = "file", ["filename"] = path },
    };

    /// <summary>drive-backup arguments; an incremental goes into an existing overlay of the previous backup.</summary>
    public static JsonObject DriveBackup(string job, string device, string target, string? bitmap = null, long speed = 0)
    {
        var data = new JsonObject { ["job-id"] = job, ["device"] = device, ["target"] = target, ["format"] = "qcow2" };
        if (bitmap is null)
        {
            data["sync"] = "full";
        }
        else
        {
            data["sync"] = "incremental";
            data["bitmap"] = bitmap;
            data["mode"] = "existing";
        }
        if (speed > 0)
        {
            data["speed"] = speed;
        }
        return data;
    }

    public static JsonObject Action(string type, JsonObject data) => new() { ["type"] = type, ["data"] = data };

    public static JsonObject BitmapAdd(string node, string name) =>
        Action("block-dirty-bitmap-add", new JsonObject { ["node"] = node, ["name"] = name, ["persistent"] = true });

    /// <summary>Waits for BLOCK_JOB_COMPLETED of every job named, in whatever order they end, and checks none failed.</summary>
    public static async Task WaitCompletedAsync(RecipeDaemon d, IEnumerable<string> jobs, CancellationToken ct)
    {
        var pending = new HashSet<string>(jobs);
        while (pending.Count > 0)
        {
            var e = await d.WaitEventAsync("BLOCK_JOB_COMPLETED", ct, data => pending.Contains((string?)data["device"] ?? ""));
            var data = e["data"]!;
            Assert.True(data["error"] is null, $"backup job {data["device"]} failed: {e.ToJsonString()}");
            Assert.Equal((long)data["len"]!, (long)data["offset"]!);
            pending.Remove((string)data["device"]!);
        }
    }

    /// <summary>
    /// The guest view of <paramref name="exportUri"/> read through the export (the caller holds
    /// the guest's writes), checked against <paramref name="model"/>, and kept as a raw file:
    /// returns the file and the SHA-256 of its bytes.
    /// </summary>
    public static async Task<(string Path, string Sha256)> RecordViewAsync(string exportUri, byte[] model, string path, string scratchDir, CancellationToken ct)
    {
        byte[] view = await Images.ReadAsync(exportUri, "raw", scratchDir, ct);
        Assert.True(model.AsSpan().SequenceEqual(view), $"{exportUri} does not read back what the guest wrote");
        await File.WriteAllBytesAsync(path, view, ct);
        return (path, Convert.ToHexString(SHA256.HashData(view)));
    }

    /// <summary>qemu-img compare of a recorded view (whose checksum must not have changed) with a backup chain.</summary>
    public static async Task AssertChainHoldsViewAsync((string Path, string Sha256) view, string top, string what, CancellationToken ct)
    {
        Assert.Equal(view.Sha256, Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(view.Path, ct))));
        var result = await ExternalTools.TryRunAsync(ExternalTools.QemuImg, ["compare", "-f", "raw", "-F", "qcow2", view.Path, top], ExternalTools.DefaultTimeout, ct);
        Assert.True(result.ExitCode == 0, $"{what}: the chain of {top} is not the guest view at its point in time:\n{result}");
    }

    /// <summary>The clusters allocated in <paramref name="image"/> itself (not in its backing files).</summary>
    public static async Task<SortedSet<long>> TopClustersAsync(string image, CancellationToken ct)
    {
        var map = await Images.ImgAsync(ct, "map", "--output=json", "-U", "-f", "qcow2", image);
        var clusters = new SortedSet<long>();
        foreach (var entry in JsonNode.Parse(map.Stdout)!.AsArray())
        {
            if ((long)entry!["depth"]! == 0 && (bool)entry["data"]!)
            {
                long start = (long)entry["start"]!;
                for (long c = start / Cluster; c < (start + (long)entry["length"]!) / Cluster; c++)
                {
                    clusters.Add(c);
                }
            }
        }
        return clusters;
    }

    /// <summary>The persistent bitmaps stored in a qcow2 image, by name, with their flags (qemu-img info).</summary>
    public static async Task<Dictionary<string, string>> StoredBitmapsAsync(string image, CancellationToken ct)
    {
        var info = await Images.ImgAsync(ct, "info", "--output=json", "-U", image);
        var bitmaps = JsonNode.Parse(info.Stdout)!["format-specific"]?["data"]?["bitmaps"]?.AsArray() ?? [];
        return bitmaps.ToDictionary(b => (string)b!["name"]!, b => b!["flags"]!.ToJsonString());
    }

    /// <summary>The dirty bitmaps query-named-block-nodes lists for <paramref name="node"/>.</summary>
    public static async Task<JsonArray> ListedBitmapsAsync(RecipeDaemon d, string node, CancellationToken ct)
    {
        var nodes = (await d.ExecuteAsync("query-named-block-nodes", new JsonObject { ["flat"] = true }, ct))!.AsArray();
        return nodes.Single(n => (string?)n!["node-name"] == node)!["dirty-bitmaps"]?.AsArray() ?? [];
    }
}
