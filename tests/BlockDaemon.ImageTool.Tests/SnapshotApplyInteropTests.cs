using BlockDaemon.TestKit;
using static BlockDaemon.ImageTool.Tests.Tools;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>
/// snapshot -a: qemu-img and blockimg revert copies of the same image; the results must read
/// the same (qemu-img compare, qemu-io), be clean (qemu-img check) and be described alike by
/// qemu-img info, and failures must be reported alike.
/// </summary>
public sealed class SnapshotApplyInteropTests : IDisposable
{
    private readonly SideBySide _both = new();

    public void Dispose() => _both.Dispose();

    // "one" at 4M, "two" at 8M after more writes, then writes and a discard in the active image.
    private static async Task Images(TempDirectory d)
    {
        string img = d["img.qcow2"];
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", img, "4M");
        await Io(img, "write -P 1 0 64k", "write -P 9 1M 64k", "write -c -P 8 3M 64k");
        await Setup(ExternalTools.QemuImg, "snapshot", "-c", "one", img);
        await Io(img, "write -P 2 0 128k", "write -P 3 2M 64k", "write -z 3M 64k");
        await Setup(ExternalTools.QemuImg, "resize", "-q", img, "8M");
        await Io(img, "write -P 4 7M 64k");
        await Setup(ExternalTools.QemuImg, "snapshot", "-c", "two", img);
        await Io(img, "write -P 5 64k 64k", "discard 1M 64k", "write -P 6 6M 4k");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", "-o", "compat=0.10,cluster_size=4k", d["v2.qcow2"], "1M");
        await Io(d["v2.qcow2"], "write -P 1 0 8k");
        await Setup(ExternalTools.QemuImg, "snapshot", "-c", "old", d["v2.qcow2"]);
        await Io(d["v2.qcow2"], "write -P 2 4k 8k");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", d["bm.qcow2"], "1M");
        await Setup(ExternalTools.QemuImg, "snapshot", "-c", "s", d["bm.qcow2"]);
        await Setup(ExternalTools.QemuImg, "bitmap", "--add", d["bm.qcow2"], "b");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", "-o", "data_file=" + d["data.raw"], d["df.qcow2"], "1M");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "raw", d["r.raw"], "1M");
    }

    public static TheoryData<string> Commands => new(
        "snapshot -a one {D}/img.qcow2",
        "snapshot -a two {D}/img.qcow2",
        "snapshot -a old {D}/v2.qcow2",
        "snapshot -a nope {D}/img.qcow2",
        "snapshot -a s {D}/bm.qcow2",
        "snapshot -a nope {D}/bm.qcow2",
        "snapshot -a s {D}/df.qcow2",
        "snapshot -a s {D}/r.raw",
        "snapshot -a s -f raw {D}/r.raw",
        "snapshot -a one -U {D}/img.qcow2",
        "snapshot -a one {D}/nope.qcow2",
        "snapshot -a one -q {D}/img.qcow2");

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Apply_matches_qemu_img(string command)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Images);
        await _both.SameAsync(command);
        await SameImagesAsync();
    }

    [Fact]
    public async Task Reverting_back_and_forth_with_writes_between_keeps_every_snapshot_intact()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Images);
        await _both.SameAsync("snapshot -a one {D}/img.qcow2");
        await _both.SetupAsync(d => Io(d["img.qcow2"], "write -P 7 0 192k", "write -P 7 3M 4k"));
        await _both.SameAsync("snapshot -c three {D}/img.qcow2");
        await _both.SameAsync("snapshot -a two {D}/img.qcow2");
        await SameImagesAsync();
        await Io(_both.Ours["img.qcow2"], "read -P 2 0 128k", "read -P 9 1M 64k", "read -P 3 2M 64k", "read -P 0 3M 64k", "read -P 4 7M 64k", "read -P 0 6M 4k");
        await _both.SameAsync("snapshot -a three {D}/img.qcow2");
        await SameImagesAsync();
        await Io(_both.Ours["img.qcow2"], "read -P 7 0 192k", "read -P 9 1M 64k", "read -P 7 3M 4k", "read -P 8 3149824 60k");
        await _both.SameAsync("snapshot -d one {D}/img.qcow2");
        await _both.SameAsync("snapshot -a two {D}/img.qcow2");
        await _both.SameAsync("snapshot -d two {D}/img.qcow2");
        await _both.SameAsync("snapshot -d three {D}/img.qcow2");
        await SameImagesAsync();
    }

    private async Task SameImagesAsync()
    {
        foreach (string name in new[] { "img.qcow2", "v2.qcow2", "bm.qcow2", "r.raw" })
        {
            await _both.SameImageAsync(name);
            // SameImageAsync checks blockimg's image only; a revert leaves no leak there either.
            var check = await QemuImgAsync("check", _both.Ours[name].EndsWith(".raw", StringComparison.Ordinal) ? _both.Qemu[name] : _both.Ours[name]);
            Assert.DoesNotContain("leaked", check.Stdout, StringComparison.Ordinal);
        }
        var (q, b) = await _both.RunAsync("snapshot -l {D}/img.qcow2");
        Assert.Equal(q.ExitCode, b.ExitCode);
        Assert.Equal(WithoutDates(q.Stdout), WithoutDates(b.Stdout));
    }

    // The listing's date column differs between the two runs; names, ids and sizes must not.
    private static string WithoutDates(string listing) =>
        string.Join('\n', listing.Split('\n').Select(line => line.Length > 30 ? line[..30] : line));
}
