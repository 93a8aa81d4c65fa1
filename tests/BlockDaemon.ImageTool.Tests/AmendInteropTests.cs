using BlockDaemon.TestKit;
using static BlockDaemon.ImageTool.Tests.Tools;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>
/// amend: qemu-img and blockimg amend copies of the same images; messages, exit codes and the
/// resulting images (qemu-img info field by field, check, compare, map) must agree.
/// </summary>
public sealed class AmendInteropTests : IDisposable
{
    private readonly SideBySide _both = new();

    public void Dispose() => _both.Dispose();

    private static async Task Images(TempDirectory d)
    {
        // v3 with data, plain and preallocated zero clusters, a compressed cluster and a snapshot.
        string v3 = d["v3.qcow2"];
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", v3, "4M");
        await Io(v3, "write -P 1 0 64k", "write -z 1M 64k", "write -P 2 2M 64k", "write -z 2M 64k", "write -c -P 3 3M 64k");
        await Setup(ExternalTools.QemuImg, "snapshot", "-c", "s", v3);
        await Io(v3, "write -P 4 0 64k");
        // v2 with a snapshot (its entry has no disk size).
        string v2 = d["v2.qcow2"];
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "4M");
        await Io(v2, "write -P 1 0 64k");
        await Setup(ExternalTools.QemuImg, "snapshot", "-c", "s", v2);
        await Io(v2, "write -P 5 64k 64k");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", "-o", "extended_l2=on", d["xl2.qcow2"], "1M");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", "-o", "compression_type=zstd,lazy_refcounts=on", d["zstd.qcow2"], "1M");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", "-o", "data_file=" + d["data.raw"], d["df.qcow2"], "1M");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "raw", d["r.raw"], "1M");
    }

    public static TheoryData<string> Commands => new(
        "amend -o compat=0.10 {D}/v3.qcow2",
        "amend -o compat=v2 {D}/zstd.qcow2",
        "amend -o compat=1.1 {D}/v2.qcow2",
        "amend -o compat=v3,lazy_refcounts=on,refcount_bits=8 {D}/v2.qcow2",
        "amend -o lazy_refcounts=on {D}/v3.qcow2",
        "amend -o lazy_refcounts=off {D}/zstd.qcow2",
        "amend -o refcount_bits=1 {D}/v3.qcow2",
        "amend -o refcount_bits=8 {D}/v3.qcow2",
        "amend -o refcount_bits=64 {D}/v3.qcow2",
        "amend -o refcount_bits=3 {D}/v3.qcow2",
        "amend -o refcount_bits=128 {D}/v3.qcow2",
        "amend -o refcount_bits=abc {D}/v3.qcow2",
        "amend -o refcount_bits=8 {D}/v2.qcow2",
        "amend -o size=8M {D}/v3.qcow2",
        "amend -o size=1M {D}/v3.qcow2",
        "amend -o size=0 {D}/v3.qcow2",
        "amend -o size=5000 {D}/v3.qcow2",
        "amend -o size=abc {D}/v3.qcow2",
        "amend -o size=8M {D}/v2.qcow2",
        "amend -p -o size=6M {D}/v3.qcow2",
        "amend -q -p -o size=6M {D}/v3.qcow2",
        "amend -o compat=0.10,lazy_refcounts=on {D}/v3.qcow2",
        "amend -o refcount_bits=8,compat=0.10 {D}/v3.qcow2",
        "amend -o compat=foo,refcount_bits=3 {D}/v3.qcow2",
        "amend -o compat=0.10 {D}/xl2.qcow2",
        "amend -o compat=0.10 {D}/df.qcow2",
        "amend -o cluster_size=4k {D}/v3.qcow2",
        "amend -o preallocation=full {D}/v3.qcow2",
        "amend -o bogus=1 {D}/v3.qcow2",
        "amend -o lazy_refcounts=maybe {D}/v3.qcow2",
        "amend -o backing_file=x {D}/v3.qcow2",
        "amend -o data_file=x {D}/v3.qcow2",
        "amend -o data_file_raw=on {D}/df.qcow2",
        "amend -o encrypt.new-secret=x {D}/v3.qcow2",
        "amend -o help {D}/v3.qcow2",
        "amend -f qcow2 -o help",
        "amend -f raw -o help",
        "amend -o help {D}/r.raw",
        "amend -f raw -o size=2M {D}/r.raw",
        "amend -o size=2M {D}/nope.qcow2",
        "amend {D}/v3.qcow2",
        "amend -o size=2M",
        "amend -o size=2M {D}/v3.qcow2 {D}/v2.qcow2");

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Amend_matches_qemu_img(string command)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Images);
        await _both.SameAsync(command);
        foreach (string name in new[] { "v3.qcow2", "v2.qcow2", "zstd.qcow2", "xl2.qcow2", "df.qcow2" })
        {
            await _both.SameImageAsync(name);
        }
    }

    [Fact]
    public async Task A_refusal_qemu_img_reaches_after_resizing_is_reported_alike_but_changes_nothing()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Images);
        byte[] before = await File.ReadAllBytesAsync(_both.Ours["v3.qcow2"], Ct);
        // qemu-img resizes first, then finds the snapshot's size in the way of the downgrade.
        await _both.SameAsync("amend -o size=6M -o compat=0.10 {D}/v3.qcow2");
        Assert.Equal(before, await File.ReadAllBytesAsync(_both.Ours["v3.qcow2"], Ct));
    }

    [Fact]
    public async Task A_downgrade_that_would_zero_a_snapshots_data_is_refused_and_changes_nothing()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        using var dir = new TempDirectory("bi-amend-");
        string image = dir["img.qcow2"];
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", image, "4M");
        await Io(image, "write -P 2 2M 64k");
        await Setup(ExternalTools.QemuImg, "snapshot", "-c", "s", image);
        // A preallocated zero cluster in the active image that the snapshot still maps as data
        // (qemu-img 7.2 zeroes it, changing the snapshot, and leaves a COPIED error behind).
        await Io(image, "write -z 2M 64k");
        byte[] before = await File.ReadAllBytesAsync(image, Ct);
        var run = await BlockimgAsync("amend", "-o", "compat=0.10", image);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("Failed to turn zero into data clusters", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllBytesAsync(image, Ct));
    }
}
