using BlockDaemon.Core.Graph;
using BlockDaemon.Nbd.Server;
using BlockDaemon.TestKit;

namespace BlockDaemon.Nbd.Tests.Server;

/// <summary>An in-process NBD server on a Unix socket in a temp directory, over a graph of memory or file nodes.</summary>
internal sealed class ServerHarness : IAsyncDisposable
{
    private ServerHarness(TestGraph graph, TempDirectory dir, NbdServer server)
    {
        TestGraph = graph;
        Dir = dir;
        Server = server;
    }

    public TestGraph TestGraph { get; }

    public TempDirectory Dir { get; }

    public NbdServer Server { get; }

    public string SocketPath => Dir["nbd.sock"];

    public string Uri(string export) => $"nbd+unix:///{export}?socket={SocketPath}";

    public static ServerHarness Start(NbdServerOptions? options = null)
    {
        var graph = new TestGraph();
        var dir = new TempDirectory("blockd-nbd-");
        return new ServerHarness(graph, dir, NbdServer.ListenUnix(dir["nbd.sock"], options));
    }

    /// <summary>Adds a memory node of <paramref name="size"/> bytes and exports it.</summary>
    public async Task<NbdExport> ExportMemoryAsync(string name, long size, bool writable = true, string? description = null)
    {
        var node = await TestGraph.AddAsync(Opt.Dict(("driver", "memory"), ("node-name", name), ("size", size), ("discard", "unmap")));
        return Export(node, name, writable, description);
    }

    public NbdExport Export(BlockNode node, string name, bool writable, string? description = null)
    {
        var export = NbdExport.Attach(TestGraph.Graph, node, name, description, writable);
        Server.Exports.Add(export);
        return export;
    }

    /// <summary>
    /// Waits (up to 5 s) until <paramref name="count"/> clients are filed under
    /// <paramref name="export"/>: the server files one just after its last handshake reply, so
    /// a client can finish its handshake a moment before it counts.
    /// </summary>
    public async Task WaitForClientsAsync(NbdExport export, int count)
    {
        for (int i = 0; i < 500 && Server.ClientsOf(export) < count; i++)
        {
            await Task.Delay(10);
        }
    }

    /// <summary>Waits (briefly) until the server has no connections left.</summary>
    public async Task WaitForNoConnectionsAsync()
    {
        for (int i = 0; i < 500 && Server.ConnectionCount > 0; i++)
        {
            await Task.Delay(10);
        }
        Assert.Equal(0, Server.ConnectionCount);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await TestGraph.DisposeAsync();
        Dir.Dispose();
    }
}
