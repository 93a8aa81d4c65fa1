using BlockDaemon.TestKit;
using static BlockDaemon.ImageTool.Tests.Tools;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>
/// convert --bitmaps: the same messages and exit codes as qemu-img, and targets whose bitmaps
/// (names, granularities, flags, bits) and data agree with what qemu-img produces.
/// </summary>
public sealed class ConvertBitmapsInteropTests : IDisposable
{
    private readonly SideBySide _both = new();

    public void Dispose() => _both.Dispose();

    private static async Task Images(TempDirectory d)
    {
        string src = d["src.qcow2"];
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", src, "4M");
        await Setup(ExternalTools.QemuImg, "bitmap", "--add", src, "a");
        await Setup(ExternalTools.QemuImg, "bitmap", "--add", "-g", "4k", "--disable", src, "b");
        await Io(src, "write -P 1 0 64k", "write -P 2 1M 12k");
        await Setup(ExternalTools.QemuImg, "bitmap", "--add", "-g", "512", src, "c");
        await Io(src, "write -P 3 3M 1k");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", d["ex.qcow2"], "4M");
        await Setup(ExternalTools.QemuImg, "bitmap", "--add", d["ex.qcow2"], "a");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", d["ex2.qcow2"], "4M");
    }

    public static TheoryData<string> Commands => new(
        "convert --bitmaps -O qcow2 {D}/src.qcow2 {D}/out.qcow2",
        "convert --bitmaps --skip-broken-bitmaps -O qcow2 {D}/src.qcow2 {D}/out.qcow2",
        "convert --bitmaps -n -O qcow2 {D}/src.qcow2 {D}/ex2.qcow2",
        "convert --bitmaps -n -O qcow2 {D}/src.qcow2 {D}/ex.qcow2",
        "convert --bitmaps -c -O qcow2 {D}/src.qcow2 {D}/out.qcow2",
        "convert --bitmaps -O qcow2 {D}/src.qcow2 {D}/src.qcow2 {D}/out.qcow2",
        "convert --skip-broken-bitmaps -O qcow2 {D}/src.qcow2 {D}/out.qcow2",
        "convert -O qcow2 {D}/src.qcow2 {D}/out.qcow2");

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Convert_bitmaps_matches_qemu_img(string command)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Images);
        await _both.SameAsync(command);
        foreach (string name in new[] { "out.qcow2", "ex.qcow2", "ex2.qcow2" })
        {
            await _both.SameImageAsync(name, compareMap: false);
            Assert.Equal(await BitmapDigestsAsync(_both.Qemu[name]), await BitmapDigestsAsync(_both.Ours[name]));
        }
    }

    // qemu-img creates the target before it finds that the format cannot hold bitmaps;
    // blockimg refuses first, so no target is left behind. Messages must still agree.
    [Theory]
    [InlineData("convert --bitmaps -O raw {D}/src.qcow2 {D}/out.raw", "out.raw")]
    [InlineData("convert --bitmaps -O qcow2 -o compat=0.10 {D}/src.qcow2 {D}/out.qcow2", "out.qcow2")]
    public async Task A_target_that_cannot_hold_bitmaps_is_refused_before_it_is_created(string command, string target)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Images);
        await _both.SameAsync(command);
        Assert.False(File.Exists(_both.Ours[target]));
    }

    private static async Task<string> BitmapDigestsAsync(string file)
    {
        if (!File.Exists(file))
        {
            return "";
        }
        await using var image = await ImageOpener.OpenAsync(file, null, new OpenMode { NoBacking = true, ForceShare = true }, Ct);
        return string.Join('\n', image.Node.DirtyBitmaps.Select(m => $"{m.Name} {m.Granularity} {m.Disabled} {m.Inconsistent} {m.Sha256()}"));
    }
}
