using System.Buffers.Binary;
using BlockDaemon.TestKit;
using static BlockDaemon.ImageTool.Tests.Tools;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>
/// check, check -r leaks and check -r all on images with a refcount changed by hand (a leak,
/// a count too high, too low, or zero where the cluster is used): the same lines, report,
/// JSON and exit code as qemu-img, and the repaired images equally clean afterwards.
/// </summary>
public sealed class CheckRepairInteropTests : IDisposable
{
    private readonly SideBySide _both = new();

    public void Dispose() => _both.Dispose();

    // Clusters: 0 header, 1 refcount table, 2 refcount block, 3 L1, 4 L2, 5.. data; the file
    // is extended to 10 clusters so that 8 and 9 exist but hold nothing.
    private static Func<TempDirectory, Task> Image(long cluster, ushort refcount) => async d =>
    {
        string img = d["img.qcow2"];
        await Setup(ExternalTools.QemuImg, "create", "-q", "-f", "qcow2", img, "4M");
        await Io(img, "write -P 1 0 64k", "write -P 2 1M 128k");
        await using var f = new FileStream(img, FileMode.Open, FileAccess.ReadWrite);
        f.SetLength(10 * 65536);
        var header = new byte[64];
        await f.ReadExactlyAsync(header, Ct);
        f.Position = (long)BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(48));
        var entry = new byte[8];
        await f.ReadExactlyAsync(entry, Ct);
        f.Position = (long)BinaryPrimitives.ReadUInt64BigEndian(entry) + cluster * 2;
        var value = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(value, refcount);
        await f.WriteAsync(value, Ct);
    };

    public static TheoryData<long, int, string> Cases()
    {
        var data = new TheoryData<long, int, string>();
        foreach (var (cluster, refcount) in new (long, int)[] { (8, 1), (4, 2), (5, 3), (5, 0), (4, 0), (2, 0), (6, 2), (1, 0) })
        {
            foreach (string mode in new[] { "", "-r leaks ", "-r all ", "--output=json -r all ", "--output=json -r leaks ", "-q -r all " })
            {
                data.Add(cluster, refcount, mode);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Check_and_repair_match_qemu_img(long cluster, int refcount, string mode)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Image(cluster, (ushort)refcount));
        await _both.SameAsync($"check {mode}{{D}}/img.qcow2");
        // What is left (or was repaired) must look the same to qemu-img afterwards.
        await _both.SameAsync("check {D}/img.qcow2");
        var (q, b) = await _both.RunAsync("check --output=json {D}/img.qcow2");
        SameJson(q.Stdout, b.Stdout, "check after repair");
    }

    [Fact]
    public async Task A_repaired_image_reads_as_before()
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        await _both.SetupAsync(Image(5, 0));
        await _both.SameAsync("check -r all {D}/img.qcow2");
        await _both.SameImageAsync("img.qcow2");
        await Io(_both.Ours["img.qcow2"], "read -P 1 0 64k", "read -P 2 1M 128k", "write -P 3 2M 64k", "read -P 3 2M 64k");
        var check = await QemuImgAsync("check", _both.Ours["img.qcow2"]);
        Assert.True(check.ExitCode == 0, check.ToString());
    }
}
