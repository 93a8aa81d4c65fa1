using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Nbd.Client;
using BlockDaemon.Nbd.Tests.Interop;
using BlockDaemon.Nbd.Tests.Server;
using BlockDaemon.Qcow2;
using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Client;

/// <summary>An nbd node as the backing node of a qcow2 overlay: unwritten clusters read through to the export.</summary>
public class NbdClientBackingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_qcow2_overlay_reads_unwritten_clusters_from_its_nbd_backing_node()
    {
        ExternalTools.Require("qemu-img");
        await using var h = ServerHarness.Start();
        h.TestGraph.Graph.RegisterDriver(new NbdClientDriverFactory());
        h.TestGraph.Graph.RegisterDriver(new Qcow2DriverFactory());
        await h.ExportMemoryAsync("base", 1 << 20);
        var baseWriter = h.TestGraph.Attach("base", BlockPermissions.ConsistentRead | BlockPermissions.Write);
        await baseWriter.WriteAsync(0, Enumerable.Repeat((byte)0x33, 1 << 20).ToArray(), WriteFlags.None, Ct);

        string overlay = h.Dir["overlay.qcow2"];
        await ExternalTools.RunAsync("qemu-img", ["create", "-f", "qcow2", overlay, "1M"], Ct);
        await h.TestGraph.AddAsync(NbdNodes.Unix("nbdbase", h.SocketPath, "base", ("read-only", true)), Ct);
        await h.TestGraph.AddAsync(Opt.Dict(("driver", "qcow2"), ("node-name", "top"), ("file", Opt.File(overlay)), ("backing", "nbdbase")), Ct);
        var top = h.TestGraph.Attach("top", BlockPermissions.ConsistentRead | BlockPermissions.Write);
        await top.WriteAsync(64 << 10, Enumerable.Repeat((byte)0x44, 64 << 10).ToArray(), WriteFlags.None, Ct);

        byte[] seen = new byte[192 << 10];
        await top.ReadAsync(0, seen, Ct);
        Assert.All(seen[..(64 << 10)], b => Assert.Equal(0x33, b));
        Assert.All(seen[(64 << 10)..(128 << 10)], b => Assert.Equal(0x44, b));
        Assert.All(seen[(128 << 10)..], b => Assert.Equal(0x33, b));
        // The overlay's write stayed in the overlay.
        byte[] under = new byte[64 << 10];
        await baseWriter.ReadAsync(64 << 10, under, Ct);
        Assert.All(under, b => Assert.Equal(0x33, b));
    }
}
