using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>Persistent bitmaps stored by qemu-img are listed like `qemu-img info` lists them.</summary>
public sealed class StoredBitmapInfoTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Bitmaps_are_listed_in_directory_order_with_their_flags_and_stay_valid_after_writes()
    {
        using var dir = new TempDirectory();
        string image = dir["b.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "64M");
        await QemuImg.RunAsync("qemu-img", "bitmap", "--add", image, "b0");
        await QemuImg.RunAsync("qemu-img", "bitmap", "--add", "-g", "131072", "--disable", image, "b1");

        await using var g = new TestGraph();
        g.Graph.RegisterDriver(new Qcow2DriverFactory());
        var node = await g.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(image))), Ct);
        var info = ((IImageInfoSource)node.Driver).GetImageInfo();
        var bitmaps = (List<object?>)info.FormatSpecific.Single(p => p.Key == "bitmaps").Value!;
        Assert.Equal(2, bitmaps.Count);
        string Describe(object? b)
        {
            var pairs = ((List<KeyValuePair<string, object?>>)b!).ToDictionary(p => p.Key, p => p.Value);
            return $"{pairs["name"]} {pairs["granularity"]} [{string.Join(',', (List<object?>)pairs["flags"]!)}]";
        }
        Assert.Equal(["b0 65536 [auto]", "b1 131072 []"], bitmaps.Select(Describe));
        var keys = info.FormatSpecific.Select(p => p.Key).ToList();
        Assert.Equal(keys.IndexOf("compression-type") - 1, keys.IndexOf("bitmaps"));

        // Bitmaps are maintained: a write keeps them listed (never in use on disk) and the
        // recording one has its bit.
        var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
        await edge.WriteAsync(0, new byte[4096], WriteFlags.None, Ct);
        bitmaps = (List<object?>)((IImageInfoSource)node.Driver).GetImageInfo().FormatSpecific.Single(p => p.Key == "bitmaps").Value!;
        Assert.Equal(["b0 65536 [auto]", "b1 131072 []"], bitmaps.Select(Describe));
        Assert.Equal(65536, node.FindDirtyBitmap("b0")!.Count);
        Assert.Equal(0, node.FindDirtyBitmap("b1")!.Count);
    }
}
