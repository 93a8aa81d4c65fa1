using BlockDaemon.TestKit;
using static BlockDaemon.ImageTool.Tests.Tools;

namespace BlockDaemon.ImageTool.Tests;

/// <summary>Images written by qemu-img and qemu-io, one per scenario, for both tools to read.</summary>
public static class Corpus
{
    public static readonly string[] Scenarios =
    [
        "plain", "chain", "snapshots", "compressed", "zero-clusters", "bitmaps", "extended-l2", "compat-0.10",
        "data-file", "refcount-bits-1", "raw", "small-clusters", "lazy-refcounts", "zstd",
    ];

    /// <summary>Builds <paramref name="scenario"/> in <paramref name="dir"/>; returns the image to inspect.</summary>
    public static async Task<string> BuildAsync(TempDirectory dir, string scenario)
    {
        string Path(string name) => dir[name];
        Task Img(params string[] args) => Setup(ExternalTools.QemuImg, args);
        switch (scenario)
        {
            case "plain":
                await Img("create", "-q", "-f", "qcow2", Path("a.qcow2"), "4M");
                await Io(Path("a.qcow2"), "write -P 1 0 64k", "write -P 2 1M 192k");
                return Path("a.qcow2");
            case "chain":
                await Img("create", "-q", "-f", "qcow2", Path("base.qcow2"), "4M");
                await Io(Path("base.qcow2"), "write -P 1 0 64k", "write -P 2 1M 64k", "write -z 2M 64k");
                await Img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", Path("mid.qcow2"));
                await Io(Path("mid.qcow2"), "write -P 3 64k 64k", "write -z 1M 64k");
                await Img("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", Path("top.qcow2"), "6M");
                await Io(Path("top.qcow2"), "write -P 5 3M 64k", "write -P 6 5M 64k");
                return Path("top.qcow2");
            case "snapshots":
                await Img("create", "-q", "-f", "qcow2", Path("s.qcow2"), "8M");
                await Io(Path("s.qcow2"), "write -P 1 0 1M");
                await Img("snapshot", "-c", "first", Path("s.qcow2"));
                await Io(Path("s.qcow2"), "write -P 2 512k 1M");
                await Img("snapshot", "-c", "second snapshot", Path("s.qcow2"));
                return Path("s.qcow2");
            case "compressed":
                await Img("create", "-q", "-f", "qcow2", Path("plain.qcow2"), "4M");
                await Io(Path("plain.qcow2"), "write -P 1 0 64k", "write -P 2 1M 192k");
                await Img("convert", "-c", "-O", "qcow2", Path("plain.qcow2"), Path("c.qcow2"));
                return Path("c.qcow2");
            case "zero-clusters":
                await Img("create", "-q", "-f", "qcow2", Path("z.qcow2"), "4M");
                await Io(Path("z.qcow2"), "write -P 1 0 128k", "write -z 64k 64k", "write -z 2M 1M", "write -z -u 3M 64k");
                return Path("z.qcow2");
            case "bitmaps":
                await Img("create", "-q", "-f", "qcow2", Path("b.qcow2"), "4M");
                await Img("bitmap", "--add", Path("b.qcow2"), "bm0");
                await Img("bitmap", "--add", "-g", "128k", Path("b.qcow2"), "bm1");
                await Img("bitmap", "--add", "--disable", Path("b.qcow2"), "off");
                await Io(Path("b.qcow2"), "write -P 1 0 64k");
                return Path("b.qcow2");
            case "extended-l2":
                await Img("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", Path("e.qcow2"), "1M");
                await Io(Path("e.qcow2"), "write -P 1 4k 4k", "write -z 16k 4k", "write -P 2 128k 2k");
                return Path("e.qcow2");
            case "compat-0.10":
                await Img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", Path("v2.qcow2"), "2M");
                await Io(Path("v2.qcow2"), "write -P 1 0 64k", "write -z 1M 64k");
                return Path("v2.qcow2");
            case "data-file":
                await Img("create", "-q", "-f", "qcow2", "-o", $"data_file={Path("d.raw")},cluster_size=4096", Path("d.qcow2"), "1M");
                await Io(Path("d.qcow2"), "write -P 1 0 8k", "write -P 2 64k 4k");
                return Path("d.qcow2");
            case "refcount-bits-1":
                await Img("create", "-q", "-f", "qcow2", "-o", "refcount_bits=1", Path("r1.qcow2"), "2M");
                // Ends inside a cluster: qemu leaves a host-file hole under the rest of it.
                await Io(Path("r1.qcow2"), "write -P 7 0 300k");
                return Path("r1.qcow2");
            case "raw":
                await Img("create", "-q", "-f", "raw", Path("r.raw"), "3M");
                return Path("r.raw");
            case "small-clusters":
                await Img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", Path("sc.qcow2"), "1M");
                await Io(Path("sc.qcow2"), "write -P 1 0 3k", "write -P 2 100k 1k");
                return Path("sc.qcow2");
            case "lazy-refcounts":
                await Img("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", Path("l.qcow2"), "1M");
                await Io(Path("l.qcow2"), "write -P 1 0 64k");
                return Path("l.qcow2");
            case "zstd":
                await Img("create", "-q", "-f", "qcow2", "-o", "compression_type=zstd", Path("zs.qcow2"), "2M");
                await Io(Path("zs.qcow2"), "write -c -P 3 0 64k", "write -P 4 64k 64k");
                return Path("zs.qcow2");
            default:
                throw new ArgumentOutOfRangeException(nameof(scenario));
        }
    }
}
