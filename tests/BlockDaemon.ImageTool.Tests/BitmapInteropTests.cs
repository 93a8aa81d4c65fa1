using System.Text.RegularExpressions;
using BlockDaemon.TestKit;
using static BlockDaemon.ImageTool.Tests.Tools;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>
/// bitmap: each command line run by qemu-img and by blockimg on copies of the same images must
/// give the same exit code and messages, and leave images that qemu-img info describes alike
/// field by field, that qemu-img check finds clean, and whose bitmaps hold the same bits.
/// </summary>
public sealed partial class BitmapInteropTests : IDisposable
{
    private readonly SideBySide _both = new();

    public void Dispose() => _both.Dispose();

    // qemu-io marks the enabled bitmaps "on" and "src" of the images it writes to.
    private static async Task Images(TempDirectory d)
    {
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", d["img.qcow2"], "4M");
        await Setup(ExternalTools.QemuImg, "bitmap", "--add", d["img.qcow2"], "on");
        await Setup(ExternalTools.QemuImg, "bitmap", "--add", "-g", "4k", "--disable", d["img.qcow2"], "off");
        await Io(d["img.qcow2"], "write -P 1 0 64k", "write -P 2 1M 4k");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", d["src.qcow2"], "4M");
        await Setup(ExternalTools.QemuImg, "bitmap", "--add", "-g", "16k", d["src.qcow2"], "src");
        await Io(d["src.qcow2"], "write -P 3 2M 8k", "write -P 3 3M 512");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", d["small.qcow2"], "1M");
        await Setup(ExternalTools.QemuImg, "bitmap", "--add", d["small.qcow2"], "src");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", "-o", "compat=0.10", d["v2.qcow2"], "1M");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "raw", d["r.raw"], "1M");
    }

    public static TheoryData<string> Commands => new(
        "bitmap --add {D}/img.qcow2 new",
        "bitmap --add -g 512 {D}/img.qcow2 new",
        "bitmap --add --granularity=2G {D}/img.qcow2 new",
        "bitmap --add -g 4294967808 {D}/img.qcow2 new",
        "bitmap --add --disable {D}/img.qcow2 new",
        "bitmap --add --disable --enable --clear {D}/img.qcow2 new",
        "bitmap --add {D}/img.qcow2 on",
        "bitmap --add -g 1000 {D}/img.qcow2 new",
        "bitmap --add -g 4G {D}/img.qcow2 new",
        "bitmap --add -g abc {D}/img.qcow2 new",
        "bitmap --add -g -1 {D}/img.qcow2 new",
        "bitmap --add -g 0 {D}/img.qcow2 new",
        "bitmap --remove {D}/img.qcow2 on",
        "bitmap --remove {D}/img.qcow2 nope",
        "bitmap --clear {D}/img.qcow2 on",
        "bitmap --disable {D}/img.qcow2 on",
        "bitmap --enable {D}/img.qcow2 off",
        "bitmap --merge on {D}/img.qcow2 off",
        "bitmap --merge off --merge on {D}/img.qcow2 off",
        "bitmap --merge nope {D}/img.qcow2 off",
        "bitmap --merge on {D}/img.qcow2 nope",
        "bitmap --merge src -b {D}/src.qcow2 {D}/img.qcow2 on",
        "bitmap --merge src -b {D}/src.qcow2 -F qcow2 {D}/img.qcow2 off",
        "bitmap --merge src -b {D}/small.qcow2 {D}/img.qcow2 on",
        "bitmap --merge src -b {D}/nope.qcow2 {D}/img.qcow2 on",
        "bitmap --merge on -b {D}/src.qcow2 {D}/img.qcow2 on",
        "bitmap --add --merge src -b {D}/src.qcow2 {D}/img.qcow2 new",
        "bitmap --clear --add {D}/img.qcow2 new",
        "bitmap --add --add {D}/img.qcow2 new",
        "bitmap -F qcow2 --add {D}/img.qcow2 new",
        "bitmap -b {D}/src.qcow2 --add {D}/img.qcow2 new",
        "bitmap -g 4k --remove {D}/img.qcow2 on",
        "bitmap {D}/img.qcow2 on",
        "bitmap --add {D}/img.qcow2",
        "bitmap --add {D}/img.qcow2 a b",
        "bitmap --add {D}/nope.qcow2 new",
        "bitmap --add {D}/v2.qcow2 new",
        "bitmap --add -f raw {D}/r.raw new",
        "bitmap --add -f qcow2 {D}/r.raw new",
        "bitmap --bogus {D}/img.qcow2 new",
        "bitmap --merge");

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Bitmap_matches_qemu_img(string command)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Images);
        var (q, b) = await _both.RunAsync(command);
        Same(WithoutNodeNames(q), WithoutNodeNames(b), command);
        foreach (string name in new[] { "img.qcow2", "src.qcow2", "v2.qcow2" })
        {
            await _both.SameImageAsync(name);
            Assert.Equal(await BitmapDigestsAsync(_both.Qemu[name]), await BitmapDigestsAsync(_both.Ours[name]));
        }
    }

    [Fact]
    public async Task Bitmaps_added_by_blockimg_record_the_writes_qemu_io_makes_later()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Images);
        await _both.SameAsync("bitmap --add -g 8k {D}/img.qcow2 later");
        await _both.SetupAsync(d => Io(d["img.qcow2"], "write -P 7 100k 20k"));
        await _both.SameAsync("bitmap --merge later {D}/img.qcow2 off");
        await _both.SameImageAsync("img.qcow2");
        string digests = await BitmapDigestsAsync(_both.Ours["img.qcow2"]);
        Assert.Equal(await BitmapDigestsAsync(_both.Qemu["img.qcow2"]), digests);
        Assert.Contains("later", digests, StringComparison.Ordinal);
    }

    // Node names are generated with random digits (#block123); only their presence must agree.
    private static Run WithoutNodeNames(Run run) => run with { Stderr = NodeName().Replace(run.Stderr, "#blockN") };

    [GeneratedRegex("#block[0-9]+")]
    private static partial Regex NodeName();

    // Every bitmap's name, granularity, flags and the SHA-256 of its bits, as this library reads the image.
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
