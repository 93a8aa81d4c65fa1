using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Create;
using BlockDaemon.Qcow2.Format;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

public sealed class CreatorTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string, string> Cases => new()
    {
        { "size=1G", "" },
        { "size=1G,version=2", "compat=0.10" },
        { "size=64M,cluster=512,refcount=1", "cluster_size=512,refcount_bits=1" },
        { "size=64M,cluster=2M,refcount=64", "cluster_size=2M,refcount_bits=64" },
        { "size=1T", "" },
        { "size=64M,lazy", "lazy_refcounts=on" },
        { "size=64M,extended-l2", "extended_l2=on" },
        { "size=64M,zstd", "compression_type=zstd" },
        { "size=64M,backing", "backing_file=base.qcow2,backing_fmt=qcow2" },
        { "size=16M,prealloc=metadata", "preallocation=metadata" },
        { "size=16M,prealloc=full", "preallocation=full" },
        { "size=16M,cluster=4k,prealloc=metadata,extended-l2", "cluster_size=16k,extended_l2=on,preallocation=metadata" },
    };

    private static Qcow2CreateOptions Parse(string spec)
    {
        var o = new Qcow2CreateOptions { Size = 0 };
        foreach (var part in spec.Split(','))
        {
            var (key, value) = part.Contains('=') ? (part[..part.IndexOf('=')], part[(part.IndexOf('=') + 1)..]) : (part, "");
            long Size(string v) => long.Parse(v.TrimEnd('G', 'M', 'T', 'k'), System.Globalization.CultureInfo.InvariantCulture)
                * (v[^1] switch { 'T' => 1L << 40, 'G' => 1L << 30, 'M' => 1L << 20, 'k' => 1L << 10, _ => 1 });
            o = key switch
            {
                "size" => o with { Size = Size(value) },
                "version" => o with { Version = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
                "cluster" => o with { ClusterSize = (int)Size(value) },
                "refcount" => o with { RefcountBits = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
                "lazy" => o with { LazyRefcounts = true },
                "extended-l2" => o with { ExtendedL2 = true, ClusterSize = Math.Max(o.ClusterSize, 16384) },
                "zstd" => o with { CompressionType = CompressionType.Zstd },
                "backing" => o with { BackingFile = "base.qcow2", BackingFormat = "qcow2" },
                "prealloc" => o with { Preallocation = Enum.Parse<Preallocation>(value, ignoreCase: true) },
                _ => throw new ArgumentException(key),
            };
        }
        return o;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Created_images_pass_check_and_match_qemu_img_metadata(string spec, string qemuOptions)
    {
        using var dir = new TempDirectory();
        var options = Parse(spec);
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", dir["base.qcow2"], "1G");
        string ours = dir["ours.qcow2"], theirs = dir["theirs.qcow2"];
        await File.WriteAllBytesAsync(ours, [], Ct);
        await using (var g = new TestGraph())
        {
            await g.AddAsync(Opt.File(ours, "f"), Ct);
            var edge = g.Graph.AttachUser(null, g.Graph.GetNode("f"), BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.Resize, BlockPermissions.All).Root!;
            await Qcow2Creator.CreateAsync(edge, options, Ct);
        }
        var args = new List<string> { "create", "-q", "-f", "qcow2" };
        if (qemuOptions.Length > 0)
        {
            args.AddRange(["-o", qemuOptions]);
        }
        args.AddRange([theirs, options.Size.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await QemuImg.RunAsync("qemu-img", [.. args]);
        await QemuImg.RunAsync("qemu-img", "check", ours);
        string ourInfo = (await QemuImg.RunAsync("qemu-img", "info", "--output=json", ours)).Replace("ours.qcow2", "X", StringComparison.Ordinal);
        string theirInfo = (await QemuImg.RunAsync("qemu-img", "info", "--output=json", theirs)).Replace("theirs.qcow2", "X", StringComparison.Ordinal);
        Assert.Equal(Strip(theirInfo), Strip(ourInfo));
        if (options.Preallocation == Preallocation.Off)
        {
            // Same options, same bytes: our layout is qemu-img's.
            Assert.Equal(await File.ReadAllBytesAsync(theirs, Ct), await File.ReadAllBytesAsync(ours, Ct));
        }
    }

    // Sizes on disk depend on the host's allocation of preallocated space.
    private static string Strip(string info) => string.Join('\n', info.Split('\n').Where(l => !l.Contains("actual-size", StringComparison.Ordinal)));

    [Fact]
    public async Task A_created_image_takes_writes_from_our_driver()
    {
        using var dir = new TempDirectory();
        string image = dir["new.qcow2"];
        await File.WriteAllBytesAsync(image, [], Ct);
        await using (var g = new TestGraph())
        {
            g.Graph.RegisterDriver(new Qcow2DriverFactory());
            await g.AddAsync(Opt.File(image, "f"), Ct);
            var file = g.Graph.AttachUser(null, g.Graph.GetNode("f"), BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.Resize, BlockPermissions.All);
            await Qcow2Creator.CreateAsync(file.Root!, new Qcow2CreateOptions { Size = 32 << 20, ClusterSize = 4096 }, Ct);
            g.Graph.DetachUser(file);
            await g.AddAsync(Opt.Node("qcow2", "q", ("file", "f")), Ct);
            var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            var data = new byte[3 << 20];
            new Random(7).NextBytes(data);
            await edge.WriteAsync(12345, data, WriteFlags.None, Ct);
        }
        await QemuImg.RunAsync("qemu-img", "check", image);
    }

    [Theory]
    [InlineData(3, 1000, 16, "Cluster size must be a power of two between 512 and 2048k")]
    [InlineData(3, 65536, 3, "Refcount width must be a power of two and may not exceed 64 bits")]
    [InlineData(2, 65536, 8, "Different refcount widths than 16 bits require compatibility level 1.1 or above (use version=v3 or greater)")]
    public void Bad_options_are_refused_before_anything_is_written(int version, int clusterSize, int refcountBits, string message)
    {
        var e = Assert.Throws<Core.Errors.BlockException>(() => Qcow2CreateValidation.Validate(
            new Qcow2CreateOptions { Size = 1 << 20, Version = version, ClusterSize = clusterSize, RefcountBits = refcountBits }));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public async Task A_raw_data_file_image_reads_the_same_through_qcow2_and_as_raw()
    {
        using var dir = new TempDirectory();
        string image = dir["img.qcow2"], data = dir["data.raw"];
        await File.WriteAllBytesAsync(image, [], Ct);
        await File.WriteAllBytesAsync(data, [], Ct);
        await using (var g = new TestGraph())
        {
            await g.AddAsync(Opt.File(image, "f"), Ct);
            await g.AddAsync(Opt.File(data, "d"), Ct);
            var perm = BlockPermissions.Write | BlockPermissions.Resize;
            var file = g.Graph.AttachUser(null, g.Graph.GetNode("f"), perm, BlockPermissions.All).Root!;
            var dataEdge = g.Graph.AttachUser(null, g.Graph.GetNode("d"), perm, BlockPermissions.All).Root!;
            await Qcow2Creator.CreateAsync(file, dataEdge,
                new Qcow2CreateOptions { Size = (3 << 20) + 512, DataFile = data, DataFileRaw = true }, Ct);
        }
        await QemuImg.RunAsync("qemu-img", "check", image);
        string info = await QemuImg.RunAsync("qemu-img", "info", "--output=json", image);
        Assert.Contains("\"data-file-raw\": true", info, StringComparison.Ordinal);
        // The last cluster is partial: the data file ends on its cluster boundary, as qsd's does.
        Assert.Equal((3L << 20) + 65536, new FileInfo(data).Length);
        await QemuImg.RunAsync("qemu-io", "-c", "write -P 0x3c 65536 1M", image);
        string read = await QemuImg.RunAsync("qemu-io", "-f", "raw", "-c", "read -P 0x3c 65536 1M", "-c", "read -P 0 0 65536", data);
        Assert.DoesNotContain("Pattern verification failed", read, StringComparison.Ordinal);
        await QemuImg.RunAsync("qemu-img", "check", image);
    }
}
