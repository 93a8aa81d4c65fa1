using BlockDaemon.TestKit;
namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>The catalogue of images QEMU writes for <see cref="ReadBackTests"/>.</summary>
internal static class ReadBackScenarios
{
    private const long MiB = 1 << 20;

    public static readonly IReadOnlyList<ReadBackScenario> All = Build().ToList();

    public static ReadBackScenario Get(string name) => All.Single(s => s.Name == name);

    private static IEnumerable<ReadBackScenario> Build()
    {
        yield return Simple("cluster_size=512", 512, 8 * MiB, "cluster_size=512");
        yield return Simple("cluster_size=4k", 4096, 8 * MiB, "cluster_size=4096");
        yield return Simple("cluster_size=64k", 65536, 16 * MiB, "cluster_size=65536");
        yield return Simple("cluster_size=2M", 2 << 20, 64 * MiB, "cluster_size=2M");
        foreach (int bits in new[] { 1, 2, 4, 8, 16, 32, 64 })
        {
            // 512-byte clusters: a refcount block covers only 4096/bits clusters, so there are several.
            yield return Simple($"refcount_bits={bits}", 512, 2 * MiB, $"cluster_size=512,refcount_bits={bits}");
        }
        yield return Simple("compat=0.10", 4096, 8 * MiB, "cluster_size=4096,compat=0.10");
        yield return Simple("compat=1.1", 4096, 8 * MiB, "cluster_size=4096,compat=1.1");
        yield return ExtendedL2("extended_l2 cluster_size=16k", 16384, 16 * MiB);
        yield return ExtendedL2("extended_l2 cluster_size=64k", 65536, 16 * MiB);
        yield return Simple("lazy_refcounts=on", 4096, 8 * MiB, "cluster_size=4096,lazy_refcounts=on");
        yield return new ReadBackScenario("lazy_refcounts=on, left dirty", 4096, async (dir, ct) =>
        {
            string img = Path.Combine(dir, "dirty.qcow2");
            await Qemu.CreateAsync(img, 8 * MiB, "cluster_size=4096,lazy_refcounts=on", ct);
            // `abort` ends qemu-io without closing the image: the dirty bit stays set.
            await ExternalTools.RunAsync(ExternalTools.QemuIo,
                ["-f", "qcow2", .. Fill.Script(Fill.Patterns(4096, 8 * MiB)).SelectMany(c => new[] { "-c", c }), "-c", "flush", "-c", "abort", img],
                ct, 134, 0, -6, 6);
            return img;
        }, ReadOnly: true, CheckAfterClose: false);
        yield return Compressed("compressed zlib cluster_size=64k", 65536, "zlib");
        yield return Compressed("compressed zstd cluster_size=64k", 65536, "zstd");
        yield return Compressed("compressed zlib cluster_size=4k", 4096, "zlib");
        yield return Compressed("compressed zstd cluster_size=2M", 2 << 20, "zstd");
        yield return Snapshots();
        yield return Bitmap();
        yield return Chain("backing chain of 3", [(65536, 8 * MiB), (65536, 8 * MiB), (65536, 8 * MiB)]);
        yield return Chain("backing chain of 3, mixed cluster sizes, short base", [(65536, 3 * MiB), (4096, 5 * MiB), (512, 6 * MiB)]);
        yield return Simple("zero clusters (write -z, -z -u)", 4096, 8 * MiB, "cluster_size=4096", Fill.Zeroes);
        yield return Simple("zero clusters, compat=0.10", 4096, 8 * MiB, "cluster_size=4096,compat=0.10", Fill.Zeroes);
        yield return Simple("discards", 4096, 8 * MiB, "cluster_size=4096", Fill.Discards);
        yield return Simple("discards, cluster_size=512", 512, 4 * MiB, "cluster_size=512", Fill.Discards);
        yield return DataFile("external data file", raw: false);
        yield return DataFile("external data file, data_file_raw=on", raw: true);
        yield return DataFile("external data file, extended_l2=on", raw: false, extendedL2: true);
    }

    private static ReadBackScenario Simple(
        string name, int cs, long size, string options, Func<int, long, List<WorkloadOp>>? more = null) =>
        new(name, cs, async (dir, ct) =>
        {
            string img = Path.Combine(dir, "img.qcow2");
            await Qemu.CreateAsync(img, size, options, ct);
            var ops = Fill.Patterns(cs, size);
            if (more is not null)
            {
                ops.AddRange(more(cs, size));
            }
            await Qemu.IoAsync(img, Fill.Script(ops), ct);
            return img;
        });

    /// <summary>data_file=...: host offsets index the data file, so host offset 0 (with the COPIED flag) is a real cluster.</summary>
    private static ReadBackScenario DataFile(string name, bool raw, bool extendedL2 = false) =>
        new(name, extendedL2 ? 16384 : 4096, async (dir, ct) =>
        {
            // Extended L2 needs clusters of at least 16k.
            int cs = extendedL2 ? 16384 : 4096;
            string img = Path.Combine(dir, "img.qcow2");
            string data = Path.Combine(dir, "img.data");
            await Qemu.CreateAsync(img, 8 * MiB,
                $"cluster_size={cs},data_file={data},data_file_raw={(raw ? "on" : "off")},extended_l2={(extendedL2 ? "on" : "off")}", ct);
            var ops = Fill.Patterns(cs, 8 * MiB, extendedL2: extendedL2);
            ops.AddRange(Fill.Zeroes(cs, 8 * MiB));
            await Qemu.IoAsync(img, Fill.Script(ops), ct);
            return img;
        });

    private static ReadBackScenario ExtendedL2(string name, int cs, long size) =>
        new(name, cs, async (dir, ct) =>
        {
            string img = Path.Combine(dir, "img.qcow2");
            await Qemu.CreateAsync(img, size, $"cluster_size={cs},extended_l2=on", ct);
            long sub = cs / 32;
            var ops = Fill.Patterns(cs, size, extendedL2: true);
            ops.AddRange(
            [
                // Single subclusters in an otherwise unallocated cluster, unaligned ones, zeroed ones.
                WorkloadOp.Write(20L * cs + 3 * sub, sub, 0xa1),
                WorkloadOp.Write(20L * cs + 7 * sub + 7, 2 * sub, 0xa2),
                WorkloadOp.Write(21L * cs - sub, 2 * sub, 0xa3),
                WorkloadOp.Zero(22L * cs + 4 * sub, 3 * sub),
                WorkloadOp.Write(22L * cs, cs, 0xa4),
                WorkloadOp.Zero(22L * cs + 8 * sub, 2 * sub, unmap: true),
                WorkloadOp.Zero(22L * cs + 20 * sub + 5, 100),
                WorkloadOp.Zero(24L * cs, cs, unmap: true),
                WorkloadOp.Write(24L * cs + 31 * sub, sub, 0xa5),
                WorkloadOp.Discard(8L * cs, cs),
                WorkloadOp.Discard(9L * cs + sub, 4 * sub),
            ]);
            await Qemu.IoAsync(img, Fill.Script(ops), ct);
            return img;
        });

    /// <summary>
    /// `qemu-img convert -c` of a raw disk with compressible, incompressible (stored plain) and zero
    /// clusters, then partial overwrites of compressed clusters and `write -c` into empty ones.
    /// </summary>
    private static ReadBackScenario Compressed(string name, int cs, string type) =>
        new(name, cs, async (dir, ct) =>
        {
            long size = cs >= (1 << 20) ? 16 * MiB : 4 * MiB;
            string raw = Path.Combine(dir, "src.raw");
            var content = new byte[size];
            var rng = new Random(cs + type.Length);
            for (long c = 0; c < size / cs; c++)
            {
                var cluster = content.AsSpan((int)(c * cs), cs);
                switch (c % 5)
                {
                    case 0: cluster.Fill((byte)(c * 7 + 1)); break;
                    case 1: rng.NextBytes(cluster); break;
                    case 2: break;
                    case 3: for (int i = 0; i < cs; i++) { cluster[i] = (byte)(i / 100 + c); } break;
                    default: rng.NextBytes(cluster[..(cs / 8)]); break;
                }
            }
            await File.WriteAllBytesAsync(raw, content, ct);
            string img = Path.Combine(dir, "img.qcow2");
            await Qemu.ConvertAsync(["-c", "-f", "raw", "-O", "qcow2", "-o", $"cluster_size={cs},compression_type={type}", raw, img], ct);
            long last = size / cs - 1;
            var ops = new List<WorkloadOp>
            {
                WorkloadOp.Write(3L * cs + 100, 200, 0xc1),
                WorkloadOp.Write(4L * cs - 50, 100, 0xc2),
                WorkloadOp.Zero(5L * cs + 10, 20),
                WorkloadOp.Zero(6L * cs, cs, unmap: true),
            };
            var script = Fill.Script(ops.Where(o => o.End <= size)).ToList();
            // Compressed writes need whole, unallocated clusters: zero clusters (c % 5 == 2) are.
            script.Add($"write -q -c -P 0xc3 {2L * cs} {cs}");
            script.Add($"write -q -c -P 0xc4 {(last - ((last - 2) % 5)) * cs} {cs}");
            await Qemu.IoAsync(img, script, ct);
            return img;
        });

    private static ReadBackScenario Snapshots() =>
        new("internal snapshots", 4096, async (dir, ct) =>
        {
            const int cs = 4096;
            const long size = 8 * MiB;
            string img = Path.Combine(dir, "img.qcow2");
            await Qemu.CreateAsync(img, size, $"cluster_size={cs}", ct);
            await Qemu.IoAsync(img, Fill.Script(Fill.Patterns(cs, size)), ct);
            await Qemu.SnapshotAsync(img, "s1", ct);
            await Qemu.IoAsync(img, Fill.Script(Fill.Patterns(cs, size, salt: 3).Where((_, i) => i % 2 == 0)), ct);
            await Qemu.SnapshotAsync(img, "s2", ct);
            var ops = Fill.Zeroes(cs, size);
            ops.AddRange(Fill.Discards(cs, size));
            ops.Add(WorkloadOp.Write(cs / 2, 2 * cs, 0x5a));
            await Qemu.IoAsync(img, Fill.Script(ops), ct);
            return img;
        });

    private static ReadBackScenario Bitmap() =>
        new("persistent bitmaps", 65536, async (dir, ct) =>
        {
            const int cs = 65536;
            const long size = 16 * MiB;
            string img = Path.Combine(dir, "img.qcow2");
            await Qemu.CreateAsync(img, size, $"cluster_size={cs}", ct);
            await Qemu.AddBitmapAsync(img, "b0", ct);
            await Qemu.IoAsync(img, Fill.Script(Fill.Patterns(cs, size)), ct);
            await Qemu.AddBitmapAsync(img, "b1", ct, disabled: true);
            await Qemu.IoAsync(img, Fill.Script(Fill.Zeroes(cs, size)), ct);
            return img;
        });

    /// <summary>base ← mid ← top, each created with `-b NAME -F qcow2` (relative names), each written.</summary>
    private static ReadBackScenario Chain(string name, (int Cs, long Size)[] layers) =>
        new(name, layers[^1].Cs, async (dir, ct) =>
        {
            string? below = null;
            string[] names = ["base.qcow2", "mid.qcow2", "top.qcow2"];
            for (int i = 0; i < layers.Length; i++)
            {
                var (cs, size) = layers[i];
                string img = Path.Combine(dir, names[i]);
                await Qemu.CreateAsync(img, size, $"cluster_size={cs}", ct, backing: below);
                var ops = Fill.Patterns(cs, size, salt: i);
                if (i > 0)
                {
                    // Zeroes and discards must hide what lies below, not let it show through.
                    ops.AddRange(Fill.Zeroes(cs, size));
                    ops.AddRange(Fill.Discards(cs, size));
                }
                await Qemu.IoAsync(img, Fill.Script(ops), ct);
                below = names[i];
            }
            return Path.Combine(dir, names[layers.Length - 1]);
        });
}
