using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Interop;

/// <summary>
/// `nbdinfo --map --json` (base:allocation) and the qemu:allocation-depth map of every image kind
/// of <see cref="AllocationImages"/>, exported read-only by qemu-storage-daemon 7.2 and by blockd
/// with the same command line, must be identical. These images cover where qemu asks the host file
/// about a data cluster (metadata preallocation) and where it does not (partly written clusters
/// over host holes, falloc/full preallocation).
/// </summary>
public class NbdMapJsonAgainstQsdTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Kinds => new(AllocationImages.Kinds);

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Map_json_is_the_same_from_blockd_and_qsd(string kind)
    {
        ExternalTools.Require("nbdinfo", ExternalTools.QemuImg, ExternalTools.QemuIo, "qemu-storage-daemon");
        using var dir = new TempDirectory("blockd-nbdmap-");
        var (file, format) = await AllocationImages.BuildAsync(dir, kind, Ct);

        var qsd = await MapsAsync("qsd", dir, file, format);
        var blockd = await MapsAsync("blockd", dir, file, format);

        Assert.Equal(qsd.Allocation, blockd.Allocation);
        Assert.Equal(qsd.Depth, blockd.Depth);
    }

    private static async Task<(string Allocation, string Depth)> MapsAsync(string daemon, TempDirectory dir, string file, string format)
    {
        string socket = dir[daemon + ".sock"];
        using var process = await StorageDaemonProcess.StartAsync(daemon, socket,
            "--blockdev", $"driver=file,node-name=file0,filename={file},read-only=on",
            "--blockdev", $"driver={format},node-name=disk0,file=file0,read-only=on",
            "--nbd-server", $"addr.type=unix,addr.path={socket}",
            "--export", "type=nbd,id=exp0,node-name=disk0,name=disk,allocation-depth=on");
        string uri = $"nbd+unix:///disk?socket={socket}";
        string allocation = (await ExternalTools.RunAsync("nbdinfo", ["--map", "--json", uri], Ct)).Stdout;
        string depth = (await ExternalTools.RunAsync("nbdinfo", ["--map=qemu:allocation-depth", "--json", uri], Ct)).Stdout;
        return (allocation, depth);
    }
}
