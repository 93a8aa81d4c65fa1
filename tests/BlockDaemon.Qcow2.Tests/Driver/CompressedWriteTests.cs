using System.Text;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>Compressed writes read back in QEMU, pass its check, and pack like QEMU's.</summary>
public sealed class CompressedWriteTests
{
    private const long Size = 8 << 20;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Compressible but not trivial: numbered lines of text.
    private static byte[] Text(int length, int seed)
    {
        var sb = new StringBuilder();
        for (int i = 0; sb.Length < length; i++)
        {
            sb.Append("line ").Append(seed).Append('.').Append(i).Append(": the quick brown fox\n");
        }
        return Encoding.ASCII.GetBytes(sb.ToString(0, length));
    }

    private static async Task<TestGraph> OpenAsync(string path)
    {
        var g = new TestGraph();
        g.Graph.RegisterDriver(new Qcow2DriverFactory());
        await g.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(path))), Ct);
        return g;
    }

    [Theory]
    [InlineData("cluster_size=65536", 65536)]
    [InlineData("cluster_size=4096", 4096)]
    [InlineData("cluster_size=65536,compression_type=zstd", 65536)]
    [InlineData("cluster_size=2097152", 2097152)]
    [InlineData("cluster_size=65536,refcount_bits=1", 65536)]
    [InlineData("cluster_size=65536,extended_l2=on", 65536)]
    [InlineData("cluster_size=65536,compat=0.10", 65536)]
    public async Task Compressed_clusters_read_back_in_qemu_and_pass_check(string options, int clusterSize)
    {
        using var dir = new TempDirectory();
        string image = dir["c.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", options, image, $"{Size}");
        var expected = new byte[Size];
        int clusters = (int)Math.Min(24, Size / clusterSize - 1);
        byte[] compressible = Text(clusters * clusterSize, 1);
        byte[] random = new byte[clusterSize];
        new Random(5).NextBytes(random);
        long randomAt = (long)clusters * clusterSize;
        await using (var g = await OpenAsync(image))
        {
            var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            await edge.WriteAsync(0, compressible, WriteFlags.Compressed, Ct);
            // Incompressible data is stored as it is.
            await edge.WriteAsync(randomAt, random, WriteFlags.Compressed, Ct);
            compressible.CopyTo(expected, 0);
            random.CopyTo(expected, randomAt);

            var back = new byte[compressible.Length];
            await edge.ReadAsync(0, back, Ct);
            Assert.Equal(compressible, back);

            var overwrite = await Assert.ThrowsAsync<BlockException>(async () =>
                await edge.WriteAsync(0, compressible.AsMemory(0, clusterSize), WriteFlags.Compressed, Ct));
            Assert.Equal(BlockErrorKind.IoError, overwrite.Kind);
        }

        string check = await QemuImg.RunAsync("qemu-img", "check", image);
        Assert.Contains("No errors were found on the image.", check, StringComparison.Ordinal);
        Assert.DoesNotContain(" 0.00% compressed clusters", check, StringComparison.Ordinal);
        await AssertQemuReadsAsync(dir, image, expected);

        // A plain write over compressed clusters frees them, leaving no leak behind.
        byte[] plain = Text(3 * clusterSize, 2);
        await using (var g = await OpenAsync(image))
        {
            var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
            await edge.WriteAsync(clusterSize / 2, plain, WriteFlags.None, Ct);
        }
        plain.CopyTo(expected, clusterSize / 2);
        check = await QemuImg.RunAsync("qemu-img", "check", image);
        Assert.Contains("No errors were found on the image.", check, StringComparison.Ordinal);
        await AssertQemuReadsAsync(dir, image, expected);
    }

    [Fact]
    public async Task A_partial_cluster_compressed_write_is_refused_and_raw_nodes_do_not_compress()
    {
        using var dir = new TempDirectory();
        string image = dir["c.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, $"{Size}");
        await using var g = await OpenAsync(image);
        var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write);
        await Assert.ThrowsAsync<BlockException>(async () => await edge.WriteAsync(4096, new byte[65536], WriteFlags.Compressed, Ct));

        await g.AddAsync(Opt.Node("null-co", "n"), Ct);
        var nul = g.Attach("n", BlockPermissions.ConsistentRead | BlockPermissions.Write);
        var error = await Assert.ThrowsAsync<BlockException>(async () => await nul.WriteAsync(0, new byte[65536], WriteFlags.Compressed, Ct));
        Assert.Equal("Compression is not supported for this drive n", error.Message);
    }

    private static async Task AssertQemuReadsAsync(TempDirectory dir, string image, byte[] expected)
    {
        string raw = dir["out.raw"];
        await QemuImg.RunAsync("qemu-img", "convert", "-O", "raw", image, raw);
        byte[] actual = await File.ReadAllBytesAsync(raw, Ct);
        Assert.True(expected.AsSpan().SequenceEqual(actual), "QEMU reads other data than was written");
    }
}
