namespace BlockDaemon.TestKit;

/// <summary>
/// Images written by qemu-img and qemu-io whose allocation maps exercise every way qemu decides
/// "data" or "zero": holes in a raw file, zero clusters, backing chains, compressed clusters,
/// partly written clusters (qcow2 leaves a host-file hole under the unwritten part) and each
/// preallocation mode. Tests compare what blockd and qemu report for them.
/// </summary>
public static class AllocationImages
{
    public static readonly string[] Kinds =
    [
        "raw-holes", "raw-full", "sparse", "zero-clusters", "backed", "shorter-backing", "compressed",
        "partial-clusters", "prealloc-metadata", "prealloc-metadata-small", "prealloc-falloc", "prealloc-full",
        "extended-l2", "data-file", "data-file-metadata",
    ];

    /// <summary>Builds image <paramref name="kind"/> in <paramref name="dir"/>; returns its path and format.</summary>
    public static async Task<(string Path, string Format)> BuildAsync(TempDirectory dir, string kind, CancellationToken ct)
    {
        string P(string name) => dir[name];
        Task Img(params string[] args) => ExternalTools.RunAsync(ExternalTools.QemuImg, args, ct);
        Task Io(string format, string image, params string[] commands) =>
            ExternalTools.RunAsync(ExternalTools.QemuIo, ["-f", format, .. commands.SelectMany(c => (string[])["-c", c]), image], ct);
        async Task<string> Qcow2(string name, string size, params string[] options)
        {
            await Img(["create", "-q", "-f", "qcow2", .. options, P(name), size]);
            return P(name);
        }
        switch (kind)
        {
            case "raw-holes":
                await Img("create", "-q", "-f", "raw", P("holes.raw"), "8M");
                await Io("raw", P("holes.raw"), "write -P 7 1M 64k", "write -P 9 5M 1k", "write -z 6M 64k");
                return (P("holes.raw"), "raw");
            case "raw-full":
                await Img("create", "-q", "-f", "raw", "-o", "preallocation=full", P("full.raw"), "2M");
                return (P("full.raw"), "raw");
            case "sparse":
                await Io("qcow2", await Qcow2("sparse.qcow2", "64M"), "write -P 1 32M 64k");
                return (P("sparse.qcow2"), "qcow2");
            case "zero-clusters":
                await Io("qcow2", await Qcow2("zero.qcow2", "8M"),
                    "write -P 1 0 64k", "write -z 1M 1M", "write -z -u 3M 64k", "write -P 0 4M 64k", "write -P 3 5M 1k");
                return (P("zero.qcow2"), "qcow2");
            case "backed":
            case "shorter-backing":
            {
                bool shorter = kind == "shorter-backing";
                string baseImage = await Qcow2("base.qcow2", shorter ? "4M" : "8M");
                await Io("qcow2", baseImage, "write -P 1 0 1M", "write -P 2 2M 20k");
                string top = await Qcow2("top.qcow2", "8M", "-b", baseImage, "-F", "qcow2");
                await Io("qcow2", top, "write -P 4 256k 10k", "write -z 2M 64k", "write -P 5 7M 64k");
                return (top, "qcow2");
            }
            case "compressed":
                await Io("qcow2", await Qcow2("plain.qcow2", "4M"), "write -P 1 0 64k", "write -P 2 1M 192k", "write -P 3 3M 5k");
                await Img("convert", "-c", "-O", "qcow2", P("plain.qcow2"), P("c.qcow2"));
                await Io("qcow2", P("c.qcow2"), "write -z 1M 64k");
                return (P("c.qcow2"), "qcow2");
            case "partial-clusters":
                await Io("qcow2", await Qcow2("partial.qcow2", "4M"), "write -P 7 0 300k", "write -P 1 1M 4k", "write -P 2 2M 512");
                return (P("partial.qcow2"), "qcow2");
            case "prealloc-metadata":
                await Io("qcow2", await Qcow2("pm.qcow2", "4M", "-o", "preallocation=metadata"), "write -P 1 64k 4k", "write -P 2 1M 128k");
                return (P("pm.qcow2"), "qcow2");
            case "prealloc-metadata-small":
                await Io("qcow2", await Qcow2("pm4.qcow2", "1M", "-o", "preallocation=metadata,cluster_size=4096"), "write -P 1 8k 4k");
                return (P("pm4.qcow2"), "qcow2");
            case "prealloc-falloc":
                await Io("qcow2", await Qcow2("pf.qcow2", "4M", "-o", "preallocation=falloc"), "write -P 1 64k 4k", "write -z 2M 64k");
                return (P("pf.qcow2"), "qcow2");
            case "prealloc-full":
                await Io("qcow2", await Qcow2("pfull.qcow2", "4M", "-o", "preallocation=full"), "write -P 1 64k 4k", "write -z 2M 64k");
                return (P("pfull.qcow2"), "qcow2");
            case "extended-l2":
                await Io("qcow2", await Qcow2("el2.qcow2", "1M", "-o", "extended_l2=on"), "write -P 1 4k 4k", "write -z 16k 4k", "write -P 2 128k 2k");
                return (P("el2.qcow2"), "qcow2");
            case "data-file":
                await Io("qcow2", await Qcow2("df.qcow2", "1M", "-o", $"data_file={P("df.raw")},cluster_size=4096"), "write -P 1 0 8k", "write -P 2 64k 1k");
                return (P("df.qcow2"), "qcow2");
            case "data-file-metadata":
                await Io("qcow2", await Qcow2("dfp.qcow2", "1M", "-o", $"data_file={P("dfp.raw")},preallocation=metadata"), "write -P 1 0 8k");
                return (P("dfp.qcow2"), "qcow2");
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }
}
