using System.Buffers.Binary;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.TestKit;

namespace BlockDaemon.Qcow2.Tests.Driver;

/// <summary>Header extensions this version does not know stay in the image through writes, snapshots and resizes.</summary>
public sealed class HeaderPreservationTests
{
    private const uint UnknownType = 0x0b1d_da7a;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_unknown_header_extension_survives_everything_the_driver_writes()
    {
        using var dir = new TempDirectory();
        string image = dir["u.qcow2"];
        await QemuImg.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "8M");
        byte[] payload = "kept by blockd"u8.ToArray();
        InsertExtension(image, UnknownType, payload);
        Assert.Contains("No errors", await QemuImg.RunAsync("qemu-img", "check", image), StringComparison.Ordinal);

        await using (var g = new TestGraph())
        {
            g.Graph.RegisterDriver(new Qcow2DriverFactory());
            var node = await g.AddAsync(Opt.Node("qcow2", "q", ("file", Opt.File(image))), Ct);
            var edge = g.Attach("q", BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.Resize);
            await edge.WriteAsync(0, new byte[1 << 20], WriteFlags.None, Ct);
            await ((IInternalSnapshots)node.Driver).CreateSnapshotAsync(new NewSnapshot("s1", 0, 0, 0), Ct);
            await edge.WriteAsync(1 << 20, new byte[65536], WriteFlags.None, Ct);
            await edge.TruncateAsync(64 << 20, Ct);
            await edge.FlushAsync(Ct);
        }

        Assert.Equal(payload, FindExtension(image, UnknownType));
        Assert.Contains("No errors", await QemuImg.RunAsync("qemu-img", "check", image), StringComparison.Ordinal);
    }

    // Puts an extension first in the list (the fixed v3 header is 112 bytes; the list follows it).
    private static void InsertExtension(string path, uint type, byte[] payload)
    {
        byte[] cluster = File.ReadAllBytes(path)[..65536];
        int padded = (payload.Length + 7) & ~7;
        var entry = new byte[8 + padded];
        BinaryPrimitives.WriteUInt32BigEndian(entry, type);
        BinaryPrimitives.WriteUInt32BigEndian(entry.AsSpan(4), (uint)payload.Length);
        payload.CopyTo(entry, 8);
        byte[] rewritten = [.. cluster[..112], .. entry, .. cluster[112..(65536 - entry.Length)]];
        using var f = File.Open(path, FileMode.Open, FileAccess.Write);
        f.Write(rewritten);
    }

    private static byte[]? FindExtension(string path, uint type)
    {
        byte[] cluster = File.ReadAllBytes(path)[..65536];
        for (int offset = 112; offset + 8 <= cluster.Length;)
        {
            uint t = BinaryPrimitives.ReadUInt32BigEndian(cluster.AsSpan(offset));
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(cluster.AsSpan(offset + 4));
            if (t == 0)
            {
                return null;
            }
            if (t == type)
            {
                return cluster.AsSpan(offset + 8, length).ToArray();
            }
            offset += 8 + ((length + 7) & ~7);
        }
        return null;
    }
}
