using BlockDaemon.TestKit;
using static BlockDaemon.ImageTool.Tests.Tools;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>create, resize, snapshot and compare: same output and exit code as qemu-img, and the same resulting images.</summary>
public sealed class WriteCommandInteropTests : IDisposable
{
    private readonly SideBySide _both = new();

    public void Dispose() => _both.Dispose();

    private static Task Chain(TempDirectory d) => Task.WhenAll(Task.CompletedTask).ContinueWith(async _ =>
    {
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", d["base.qcow2"], "4M");
        await Io(d["base.qcow2"], "write -P 1 0 64k", "write -P 2 1M 64k", "write -z 2M 64k");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", d["mid.qcow2"]);
        await Io(d["mid.qcow2"], "write -P 3 64k 64k", "write -P 3 3M 128k", "write -z 1M 4k");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", d["top.qcow2"], "6M");
        await Io(d["top.qcow2"], "write -P 5 3M 64k", "write -P 6 5M 64k", "write -z 0 4k");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "raw", d["r.raw"], "1M");
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", d["empty.qcow2"], "6M");
    }).Unwrap();

    public static TheoryData<string> CreateCommands => new(
        "create -f qcow2 {D}/x.qcow2 1M",
        "create {D}/x.raw 1M",
        "create -f raw -o preallocation=falloc {D}/x.raw 1M",
        "create -f qcow2 -o compat=1.1,data_file={D}/d.raw,data_file_raw=on,preallocation=metadata,lazy_refcounts=on,refcount_bits=8,cluster_size=16k,extended_l2=on,compression_type=zstd {D}/x.qcow2 1M",
        "create -f qcow2 -o compat=0.10 {D}/x.qcow2 3M",
        "create -f qcow2 -o preallocation=metadata,cluster_size=4k {D}/x.qcow2 1M",
        "create -f qcow2 -o preallocation=full {D}/x.qcow2 2M",
        "create -f qcow2 -o refcount_bits=64,cluster_size=2M {D}/x.qcow2 8M",
        "create -f qcow2 -b base.qcow2 -F qcow2 {D}/x.qcow2",
        "create -f qcow2 -b base.qcow2 -F qcow2 {D}/x.qcow2 8M",
        "create -f qcow2 -b base.qcow2 {D}/x.qcow2",
        "create -f qcow2 -b nob.qcow2 -F qcow2 {D}/x.qcow2",
        "create -f qcow2 -b nob.qcow2 -F qcow2 -u {D}/x.qcow2 1M",
        "create -f qcow2 {D}/x.qcow2",
        "create -f qcow2 -o cluster_size=3000 {D}/x.qcow2 1M",
        "create -f qcow2 -o bogus=1 {D}/x.qcow2 1M",
        "create -f qcow2 -o refcount_bits=3 {D}/x.qcow2 1M",
        "create -f qcow2 -o compat=0.10,lazy_refcounts=on {D}/x.qcow2 1M",
        "create -f foo {D}/x 1M",
        "create -f qcow2 -o lazy_refcounts=maybe {D}/x.qcow2 1M",
        "create -f qcow2 -o size=2M {D}/x.qcow2",
        "create -f qcow2 {D}/x.qcow2 1M 2M",
        "create -f qcow2 -o compat=foo {D}/x.qcow2 1M",
        "create -f qcow2 -o compression_type=lz {D}/x.qcow2 1M",
        "create -f qcow2 -o preallocation=x {D}/x.qcow2 1M",
        "create -f qcow2 -o cluster_size=abc {D}/x.qcow2 1M",
        "create -f qcow2 -o refcount_bits=abc {D}/x.qcow2 1M",
        "create -f qcow2 -o extended_l2=on,cluster_size=4k {D}/x.qcow2 1M",
        "create -f qcow2 {D}/x.qcow2 1.5G",
        "create -f qcow2 {D}/x.qcow2 12Q",
        "create {D}/x 99999999999999999999",
        "create -q -f qcow2 {D}/x.qcow2 1M",
        "create");

    [Theory]
    [MemberData(nameof(CreateCommands))]
    public async Task Create_matches_qemu_img(string command)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Chain);
        await _both.SameAsync(command);
        foreach (string name in new[] { "x.qcow2", "x.raw", "x", "d.raw" })
        {
            await _both.SameImageAsync(name);
        }
    }

    public static TheoryData<string> OtherCommands => new(
        "resize {D}/empty.qcow2 +1M", "resize --shrink {D}/top.qcow2 -1M", "resize {D}/top.qcow2 -1M", "resize {D}/top.qcow2 abc",
        "resize {D}/top.qcow2", "resize --shrink {D}/top.qcow2 -100M", "resize {D}/top.qcow2 6M", "resize {D}/r.raw 2M",
        "resize -f raw {D}/r.raw 3M", "resize --preallocation=bogus {D}/top.qcow2 8M", "resize -q {D}/top.qcow2 +1M",
        "snapshot -l {D}/base.qcow2", "snapshot -d nope {D}/base.qcow2", "snapshot -a nope {D}/base.qcow2",
        "snapshot -l -c b {D}/base.qcow2", "snapshot -c x {D}/r.raw", "snapshot {D}/r.raw",
        "compare {D}/top.qcow2 {D}/mid.qcow2", "compare {D}/top.qcow2 {D}/top.qcow2", "compare -s {D}/top.qcow2 {D}/empty.qcow2",
        "compare {D}/empty.qcow2 {D}/r.raw", "compare {D}/mid.qcow2 {D}/base.qcow2", "compare -s {D}/mid.qcow2 {D}/base.qcow2",
        "compare -q {D}/top.qcow2 {D}/mid.qcow2", "compare {D}/top.qcow2 {D}/nope", "compare {D}/top.qcow2",
        "commit {D}/top.qcow2", "commit -d {D}/top.qcow2", "commit -b {D}/base.qcow2 {D}/top.qcow2", "commit {D}/mid.qcow2",
        "commit {D}/base.qcow2", "commit -b nope {D}/top.qcow2", "commit -q {D}/top.qcow2",
        "info --bogus {D}/top.qcow2", "info -f", "info {D}/nope", "frobnicate");

    [Theory]
    [MemberData(nameof(OtherCommands))]
    public async Task Resize_snapshot_compare_commit_match_qemu_img(string command)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Chain);
        await _both.SameAsync(command);
        foreach (string name in new[] { "base.qcow2", "mid.qcow2", "top.qcow2", "r.raw", "empty.qcow2" })
        {
            await _both.SameImageAsync(name);
        }
    }

    [Fact]
    public async Task Snapshots_created_and_deleted_are_listed_as_qemu_img_lists_them()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Chain);
        foreach (string command in new[] { "snapshot -c one {D}/base.qcow2", "snapshot -c two {D}/base.qcow2", "snapshot -c one {D}/base.qcow2", "snapshot -d one {D}/base.qcow2" })
        {
            await _both.SameAsync(command);
        }
        // Dates differ between the runs; everything else must not.
        var (q, b) = await _both.RunAsync("info --output=json {D}/base.qcow2");
        SameJson(q.Stdout, b.Stdout, "info after snapshots", "date-sec", "date-nsec", "actual-size");
        await _both.SameImageAsync("base.qcow2");
    }

    public static TheoryData<string> ConvertCommands => new(
        "convert -O qcow2 {D}/top.qcow2 {D}/out",
        "convert {D}/top.qcow2 {D}/out",
        "convert -O qcow2 -c {D}/top.qcow2 {D}/out",
        "convert -O qcow2 -B base.qcow2 -F qcow2 {D}/top.qcow2 {D}/out",
        "convert -O qcow2 -W -m 4 {D}/top.qcow2 {D}/out",
        "convert -O qcow2 -S 0 {D}/top.qcow2 {D}/out",
        "convert -O qcow2 -o cluster_size=4k,compat=0.10 {D}/top.qcow2 {D}/out",
        "convert -O qcow2 {D}/r.raw {D}/mid.qcow2 {D}/out",
        "convert -n -O qcow2 {D}/mid.qcow2 {D}/empty.qcow2",
        "convert -O qcow2 {D}/nope {D}/out",
        "convert -O foo {D}/top.qcow2 {D}/out",
        "convert -c -O raw {D}/top.qcow2 {D}/out",
        "convert -O qcow2 -B base.qcow2 {D}/top.qcow2 {D}/out",
        "convert {D}/top.qcow2");

    [Theory]
    [MemberData(nameof(ConvertCommands))]
    public async Task Convert_matches_qemu_img(string command)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Chain);
        await _both.SameAsync(command);
        // Allocation of converted images may differ where a source cluster is partly zero.
        await _both.SameImageAsync("out", compareMap: false);
        await _both.SameImageAsync("empty.qcow2", compareMap: false);
    }
}
