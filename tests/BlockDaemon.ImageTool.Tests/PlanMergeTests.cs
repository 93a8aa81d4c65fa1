using System.Text.Json.Nodes;
using BlockDaemon.TestKit;
using static BlockDaemon.ImageTool.Tests.Tools;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>plan-merge counts what a stream and a commit would copy, for each point of a chain written by qemu-io.</summary>
public sealed class PlanMergeTests : IDisposable
{
    private readonly TempDirectory _dir = new("bi-plan-");

    public void Dispose() => _dir.Dispose();

    private async Task<string> ChainAsync()
    {
        // 64k clusters. base: data at 0 and 1M, zeroes at 2M. mid: data at 64k, 3M..3M+128k, and
        // a partial zero write at 1M (a whole data cluster after copy-on-write). top: data at 3M
        // and 5M, a partial zero write at 0 (a data cluster).
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", _dir["base.qcow2"], "4M");
        await Io(_dir["base.qcow2"], "write -P 1 0 64k", "write -P 2 1M 64k", "write -z 2M 64k");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", _dir["mid.qcow2"]);
        await Io(_dir["mid.qcow2"], "write -P 3 64k 64k", "write -P 3 3M 128k", "write -z 1M 4k");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", _dir["top.qcow2"], "6M");
        await Io(_dir["top.qcow2"], "write -P 5 3M 64k", "write -P 6 5M 64k", "write -z 0 4k");
        return _dir["top.qcow2"];
    }

    [Theory]
    // point, stream data, stream zeroes, commit data, commit zeroes (-1: not possible)
    [InlineData(0, 64 * 1024, 64 * 1024, -1, -1)]
    [InlineData(1, 192 * 1024, 0, 256 * 1024, 0)]
    [InlineData(2, -1, -1, 192 * 1024, 0)]
    public async Task Stream_and_commit_costs_are_what_each_would_copy(int point, long streamData, long streamZero, long commitData, long commitZero)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        string top = await ChainAsync();
        var run = await BlockimgAsync("plan-merge", "--output=json", "--remove-point", point.ToString(System.Globalization.CultureInfo.InvariantCulture), top);
        Assert.True(run.ExitCode == 0, run.ToString());
        var json = JsonNode.Parse(run.Stdout)!;
        void Check(string way, long data, long zero)
        {
            Assert.Equal(data >= 0, (bool)json[way]!["possible"]!);
            if (data >= 0)
            {
                Assert.Equal(data, (long)json[way]!["data-bytes"]!);
                Assert.Equal(zero, (long)json[way]!["zero-bytes"]!);
            }
        }
        Check("stream", streamData, streamZero);
        Check("commit", commitData, commitZero);
        Assert.Equal(point, (int)json["point"]!);
        Assert.Equal(3, (int)json["points"]!);
    }

    [Fact]
    public async Task The_commit_cost_is_what_qemu_img_commit_then_writes_into_the_base()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        string top = await ChainAsync();
        var plan = JsonNode.Parse((await BlockimgAsync("plan-merge", "--output=json", "-n", "1", top)).Stdout)!;
        // After committing mid into base, base allocates what it had plus mid's clusters.
        var before = await AllocatedAsync(_dir["base.qcow2"]);
        await Setup(ExternalTools.QemuImg, "commit", "-q", "-d", _dir["mid.qcow2"]);
        var after = await AllocatedAsync(_dir["base.qcow2"]);
        long newlyAllocated = after.Except(before).Count() * 65536L;
        // mid's 1M cluster overwrites a cluster base already had; the rest is new.
        Assert.Equal((long)plan["commit"]!["data-bytes"]! - 65536, newlyAllocated);
    }

    private static async Task<HashSet<long>> AllocatedAsync(string image)
    {
        var map = JsonNode.Parse((await QemuImgAsync("map", "--output=json", image)).Stdout)!.AsArray();
        var clusters = new HashSet<long>();
        foreach (var e in map)
        {
            if ((bool)e!["data"]! && (int)e["depth"]! == 0)
            {
                for (long at = (long)e["start"]!; at < (long)e["start"]! + (long)e["length"]!; at += 65536)
                {
                    clusters.Add(at);
                }
            }
        }
        return clusters;
    }

    [Theory]
    [InlineData("plan-merge top.qcow2", "Expecting --remove-point N")]
    [InlineData("plan-merge -n 7 top.qcow2", "Point 7 is not in the chain (points 0 to 2, 0 the base)")]
    [InlineData("plan-merge -n x top.qcow2", "Invalid point 'x': expecting a number (0 is the base image)")]
    public async Task Bad_points_are_refused_clearly(string command, string message)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await ChainAsync();
        var run = await BlockimgAsync([.. command.Split(' ').Select(a => a.EndsWith(".qcow2", StringComparison.Ordinal) ? _dir[a] : a)]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains(message, run.Stderr, StringComparison.Ordinal);
    }
}
