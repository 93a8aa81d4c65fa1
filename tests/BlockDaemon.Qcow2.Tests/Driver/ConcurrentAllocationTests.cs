using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>
/// Whole-cluster allocating writes run their data write outside the metadata lock, several at a
/// time. Requests that meet them on the same clusters, and operations that rework the mapping,
/// must still leave an image that checks clean (nothing leaked, nothing mapped twice) and reads
/// back what was written.
/// </summary>
public sealed class ConcurrentAllocationTests
{
    private const int ClusterSize = 65536;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Concurrent_whole_cluster_writes_overlapping_ones_and_a_resize_leave_a_clean_image()
    {
        using var dir = new TempDirectory();
        string image = dir["a.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-o", $"cluster_size={ClusterSize}", image, "16M");

        await using (var graph = new TestGraph())
        {
            graph.Graph.RegisterDriver(new Qcow2DriverFactory());
            await graph.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(image))), Ct);
            var edge = graph.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.Resize);

            var writes = new List<Task>();
            // Disjoint: 32 requests of 4 clusters, each with its own byte.
            for (int i = 0; i < 32; i++)
            {
                var data = Filled(4 * ClusterSize, (byte)(0x40 + i));
                writes.Add(edge.WriteAsync((long)i * 4 * ClusterSize, data, WriteFlags.None, Ct).AsTask());
            }
            // Overlapping: the same two clusters [160, 162) again and again, whole and in part.
            for (int i = 0; i < 16; i++)
            {
                writes.Add(edge.WriteAsync(160L * ClusterSize, Filled(2 * ClusterSize, (byte)(0x80 + i)), WriteFlags.None, Ct).AsTask());
                writes.Add(edge.WriteAsync(160L * ClusterSize + i * 4096, Filled(4096, 0xEE), WriteFlags.None, Ct).AsTask());
            }
            // A resize waits for the writes in flight and does not deadlock with them.
            writes.Add(edge.TruncateAsync(32L << 20, Ct).AsTask());
            await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(60), Ct);
            await edge.FlushAsync(Ct);

            var read = new byte[4 * ClusterSize];
            for (int i = 0; i < 32; i++)
            {
                await edge.ReadAsync((long)i * 4 * ClusterSize, read, Ct);
                Assert.Equal(Filled(4 * ClusterSize, (byte)(0x40 + i)), read);
            }
            // Each 4 KiB block of the overlapped clusters holds one write's bytes, never a mix.
            var overlapped = new byte[2 * ClusterSize];
            await edge.ReadAsync(160L * ClusterSize, overlapped, Ct);
            for (int block = 0; block < overlapped.Length / 4096; block++)
            {
                var span = overlapped.AsSpan(block * 4096, 4096);
                Assert.True(span.IndexOfAnyExcept(span[0]) < 0, $"block {block} mixes two writes");
                Assert.True(span[0] == 0xEE || span[0] is >= 0x80 and < 0x90, $"block {block} holds {span[0]:x2}, which nobody wrote");
            }
        }

        string check = await QemuImg.RunAsync("qemu-img", "check", "-f", "qcow2", image);
        Assert.Contains("No errors were found on the image.", check);
        Assert.DoesNotContain("leaked", check, StringComparison.OrdinalIgnoreCase);
        // The last disjoint request, as qemu reads it.
        string io = await QemuImg.RunAsync("qemu-io", "-f", "qcow2", "-c", $"read -P 0x5f {31 * 4 * ClusterSize} {4 * ClusterSize}", image);
        Assert.DoesNotContain("Pattern verification failed", io);
    }

    private static byte[] Filled(int length, byte value)
    {
        var data = new byte[length];
        data.AsSpan().Fill(value);
        return data;
    }
}
