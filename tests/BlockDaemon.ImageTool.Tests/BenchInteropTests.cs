using System.Text.RegularExpressions;
using BlockDaemon.TestKit;
using static BlockDaemon.ImageTool.Tests.Tools;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>
/// bench: the same summary lines (the run time aside), messages and exit codes as qemu-img
/// bench, and write runs leave the same data in the image.
/// </summary>
public sealed partial class BenchInteropTests : IDisposable
{
    private readonly SideBySide _both = new();

    public void Dispose() => _both.Dispose();

    private static async Task Images(TempDirectory d)
    {
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", d["img.qcow2"], "8M");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "raw", d["r.raw"], "1M");
    }

    public static TheoryData<string> Commands => new(
        "bench -c 1000 {D}/img.qcow2",
        "bench -c 100 -w -d 4 -s 8k -S 16k -o 1M --pattern=5 {D}/img.qcow2",
        "bench -c 3000 -w -d 8 -s 4k --pattern=0x2a {D}/img.qcow2",
        "bench -c 100 -d 4 -w --flush-interval=10 {D}/img.qcow2",
        "bench -c 100 -d 4 -w --flush-interval=10 --no-drain {D}/img.qcow2",
        "bench -c 100 -w --flush-interval=10 {D}/img.qcow2",
        "bench -c 10 --flush-interval=10 {D}/img.qcow2",
        "bench -c 10 -q {D}/img.qcow2",
        "bench -c 0 {D}/img.qcow2",
        "bench -c 10 -s 0 {D}/img.qcow2",
        "bench -c 10 -s 1M -S 0 {D}/img.qcow2",
        "bench -c 10 -o 8M {D}/img.qcow2",
        "bench -c 8 -w -d 1 -s 4k -S 12k --pattern=1 -f raw {D}/r.raw",
        "bench -c 4 -w -d 1 -s 4k -S 6k -o 1022k --pattern=1 -f raw {D}/r.raw",
        "bench -c 10 -d 100000 {D}/img.qcow2",
        "bench -c 0x10 -d 010 -f raw {D}/r.raw",
        "bench -c abc {D}/img.qcow2",
        "bench -c 10 -d abc {D}/img.qcow2",
        "bench -c 10 -s abc {D}/img.qcow2",
        "bench -c 10 -s 3G {D}/img.qcow2",
        "bench -c 10 -o abc {D}/img.qcow2",
        "bench -c 10 -S abc {D}/img.qcow2",
        "bench -c 10 --pattern=300 -w {D}/img.qcow2",
        "bench -c 2 -w -U {D}/img.qcow2",
        "bench -c 2 -t bogus {D}/img.qcow2",
        "bench -c 4 -n {D}/img.qcow2",
        "bench -c 4 -i foo {D}/img.qcow2",
        "bench -c 4 {D}/nope.qcow2",
        "bench -c 4");

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Bench_matches_qemu_img(string command)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Images);
        var (q, b) = await _both.RunAsync(command);
        Same(WithoutTime(q), WithoutTime(b), command);
        // Where a write run ends inside a cluster the files may end at different places; the
        // data (qemu-img compare) must not differ.
        await _both.SameImageAsync("img.qcow2", compareMap: false);
        await _both.SameImageAsync("r.raw", compareMap: false);
    }

    private static Run WithoutTime(Run run) => run with { Stdout = Seconds().Replace(run.Stdout, "in T seconds") };

    [GeneratedRegex(@"in [0-9]+\.[0-9]{3} seconds")]
    private static partial Regex Seconds();
}
