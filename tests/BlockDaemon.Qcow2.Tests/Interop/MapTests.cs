using System.Text.Json;
using BlockDaemon.Core.Graph;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>Our block status, walked down the backing chain, gives the map `qemu-img map --output=json` prints.</summary>
public sealed class MapTests : IDisposable
{
    private readonly TempDirectory _dir = new("blockd-qcow2-map-");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Scenarios => new()
    {
        "chain", "compressed", "extended-l2", "preallocated-metadata", "compat-0.10", "data-file",
    };

    [Theory]
    [MemberData(nameof(Scenarios))]
    public async Task The_map_matches_qemu_img_map(string scenario)
    {
        ExternalTools.Require(ExternalTools.QemuImg, ExternalTools.QemuIo);
        string image = await BuildAsync(scenario);
        string expected = Normalise(await Driver.QemuImg.RunAsync("qemu-img", "map", "--output=json", image));

        await using var g = new TestGraph();
        g.Graph.RegisterDriver(new Qcow2DriverFactory());
        await g.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(image)), ("read-only", true)), Ct);
        var edge = g.Attach("q", BlockPermissions.ConsistentRead);
        var map = await BlockMap.GetMapAsync(edge, Ct);
        string actual = string.Join('\n', map.Select(e =>
            $"{e.Start} {e.Length} depth={e.Depth} present={e.Present} zero={e.Zero} data={e.Data}" + (e.HostOffset >= 0 ? $" offset={e.HostOffset}" : "")));
        Assert.Equal(expected, actual);
    }

    private static string Normalise(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return string.Join('\n', doc.RootElement.EnumerateArray().Select(e =>
            $"{e.GetProperty("start").GetInt64()} {e.GetProperty("length").GetInt64()} depth={e.GetProperty("depth").GetInt32()}"
            + $" present={e.GetProperty("present").GetBoolean()} zero={e.GetProperty("zero").GetBoolean()} data={e.GetProperty("data").GetBoolean()}"
            + (e.TryGetProperty("offset", out var o) ? $" offset={o.GetInt64()}" : "")));
    }

    private async Task<string> BuildAsync(string scenario)
    {
        string Path(string name) => _dir[name];
        Task Img(params string[] args) => Driver.QemuImg.RunAsync("qemu-img", args);
        Task Io(string image, params string[] commands) =>
            Driver.QemuImg.RunAsync("qemu-io", ["-f", "qcow2", .. commands.SelectMany(c => (string[])["-c", c]), image]);
        switch (scenario)
        {
            case "chain":
                await Img("create", "-q", "-f", "qcow2", Path("base.qcow2"), "4M");
                await Io(Path("base.qcow2"), "write -P 1 0 64k", "write -P 2 1M 64k", "write -z 2M 64k", "write -P 4 3M 128k");
                await Img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", Path("mid.qcow2"), "4M");
                await Io(Path("mid.qcow2"), "write -P 3 64k 64k", "write -z 1M 64k");
                await Img("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", Path("top.qcow2"), "6M");
                await Io(Path("top.qcow2"), "write -P 5 3M 64k", "write -P 6 5M 64k");
                return Path("top.qcow2");
            case "compressed":
                await Img("create", "-q", "-f", "qcow2", Path("plain.qcow2"), "4M");
                await Io(Path("plain.qcow2"), "write -P 1 0 64k", "write -P 2 1M 192k");
                await Img("convert", "-c", "-O", "qcow2", Path("plain.qcow2"), Path("c.qcow2"));
                return Path("c.qcow2");
            case "extended-l2":
                await Img("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", Path("e.qcow2"), "1M");
                await Io(Path("e.qcow2"), "write -P 1 4k 4k", "write -z 16k 4k", "write -P 2 128k 2k");
                return Path("e.qcow2");
            case "preallocated-metadata":
                await Img("create", "-q", "-f", "qcow2", "-o", "preallocation=metadata,cluster_size=4096", Path("p.qcow2"), "1M");
                await Io(Path("p.qcow2"), "write -P 1 8k 4k");
                return Path("p.qcow2");
            case "compat-0.10":
                await Img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", Path("v2.qcow2"), "2M");
                await Io(Path("v2.qcow2"), "write -P 1 0 64k", "write -z 1M 64k");
                return Path("v2.qcow2");
            case "data-file":
                await Img("create", "-q", "-f", "qcow2", "-o", $"data_file={Path("d.raw")},cluster_size=4096", Path("d.qcow2"), "1M");
                await Io(Path("d.qcow2"), "write -P 1 0 8k", "write -P 2 64k 4k");
                return Path("d.qcow2");
            default:
                throw new ArgumentOutOfRangeException(nameof(scenario));
        }
    }
}
