using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Interop;

/// <summary>
/// The same images exported read-only by qemu-storage-daemon 7.2 and by blockd, with the same
/// command line: nbdinfo must see the same maps (base:allocation and qemu:allocation-depth), the
/// same export details and the same export list from both.
/// </summary>
public class NbdinfoAgainstQsdTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Images => ["sparse-raw", "zero-clusters", "backed-chain", "compressed", "shorter-backing"];

    [Theory]
    [MemberData(nameof(Images))]
    public async Task Nbdinfo_answers_the_same_for_blockd_and_qsd(string image)
    {
        ExternalTools.Require("nbdinfo", ExternalTools.QemuImg, ExternalTools.QemuIo, "qemu-storage-daemon");
        using var dir = new TempDirectory("blockd-nbdinfo-");
        var (file, format) = await CreateImageAsync(dir, image);

        var qsd = await DescribeAsync("qsd", dir, file, format);
        var blockd = await DescribeAsync("blockd", dir, file, format);

        Assert.Equal(qsd.Map, blockd.Map);
        Assert.Equal(qsd.DepthMap, blockd.DepthMap);
        Assert.Equal(qsd.Json, blockd.Json);
        Assert.Equal(qsd.List, blockd.List);
    }

    private sealed record Answers(string Map, string DepthMap, string Json, string List);

    private static async Task<Answers> DescribeAsync(string daemon, TempDirectory dir, string file, string format)
    {
        string socket = dir[daemon + ".sock"];
        using var process = await StorageDaemonProcess.StartAsync(daemon, socket,
            "--blockdev", $"driver=file,node-name=file0,filename={file},read-only=on",
            "--blockdev", $"driver={format},node-name=disk0,file=file0,read-only=on",
            "--nbd-server", $"addr.type=unix,addr.path={socket}",
            "--export", "type=nbd,id=exp0,node-name=disk0,name=disk,description=same image,allocation-depth=on");
        string uri = $"nbd+unix:///disk?socket={socket}";
        string map = (await ExternalTools.RunAsync("nbdinfo", ["--map", uri], Ct)).Stdout;
        string depth = (await ExternalTools.RunAsync("nbdinfo", ["--map=qemu:allocation-depth", uri], Ct)).Stdout;
        string json = (await ExternalTools.RunAsync("nbdinfo", ["--json", uri], Ct)).Stdout;
        string list = (await ExternalTools.RunAsync("nbdinfo", ["--list", "--json", $"nbd+unix:///?socket={socket}"], Ct)).Stdout;
        // The URIs name each daemon's own socket; everything else must match byte for byte.
        return new Answers(map, depth, json.Replace(socket, "SOCKET", StringComparison.Ordinal), list.Replace(socket, "SOCKET", StringComparison.Ordinal));
    }

    private static async Task<(string File, string Format)> CreateImageAsync(TempDirectory dir, string image)
    {
        switch (image)
        {
            case "sparse-raw":
                string raw = dir.CreateFile("sparse.raw", 8 << 20);
                await QemuIoAsync("raw", raw, "write -P 7 1M 64k", "write -P 9 5M 1M");
                return (raw, "raw");
            case "zero-clusters":
                string zero = await CreateQcow2Async(dir, "zero.qcow2", "8M");
                await QemuIoAsync("qcow2", zero, "write -P 1 0 64k", "write -z 1M 1M", "write -z -u 3M 64k", "write -P 0 4M 64k");
                return (zero, "qcow2");
            case "backed-chain":
                return (await CreateChainAsync(dir, sameSize: true), "qcow2");
            case "shorter-backing":
                return (await CreateChainAsync(dir, sameSize: false), "qcow2");
            default:
                string chain = await CreateChainAsync(dir, sameSize: false);
                string compressed = dir["compressed.qcow2"];
                await ExternalTools.RunAsync(ExternalTools.QemuImg, ["convert", "-c", "-O", "qcow2", chain, compressed], Ct);
                await QemuIoAsync("qcow2", compressed, "write -z 1M 64k");
                return (compressed, "qcow2");
        }
    }

    // base <- mid <- top, each layer writing and zeroing its own ranges; with sameSize false each
    // layer is larger than the one below it, so reads past a backing file's end come into play.
    private static async Task<string> CreateChainAsync(TempDirectory dir, bool sameSize)
    {
        string baseImage = await CreateQcow2Async(dir, "base.qcow2", sameSize ? "8M" : "4M");
        await QemuIoAsync("qcow2", baseImage, "write -P 1 0 1M", "write -P 2 2M 512k");
        string mid = await CreateQcow2Async(dir, "mid.qcow2", sameSize ? "8M" : "6M", baseImage);
        await QemuIoAsync("qcow2", mid, "write -P 3 512k 1M", "write -z 3M 64k");
        string top = await CreateQcow2Async(dir, "top.qcow2", "8M", mid);
        await QemuIoAsync("qcow2", top, "write -P 4 256k 128k", "write -z 2M 64k", "write -P 5 7M 64k");
        return top;
    }

    private static async Task<string> CreateQcow2Async(TempDirectory dir, string name, string size, string? backing = null)
    {
        string path = dir[name];
        string[] backingArgs = backing is null ? [] : ["-b", backing, "-F", "qcow2"];
        await ExternalTools.RunAsync(ExternalTools.QemuImg, ["create", "-q", "-f", "qcow2", .. backingArgs, path, size], Ct);
        return path;
    }

    private static async Task QemuIoAsync(string format, string image, params string[] commands)
    {
        var args = new List<string> { "-f", format };
        foreach (string command in commands)
        {
            args.AddRange(["-c", command]);
        }
        args.Add(image);
        await ExternalTools.RunAsync(ExternalTools.QemuIo, args, Ct);
    }
}
