using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Drivers.Null;
using BlockDaemon.Core.Drivers.Raw;
using BlockDaemon.Core.Graph;

namespace BlockDaemon.TestKit;

/// <summary>A <see cref="BlockGraph"/> with file, raw, null-co and memory drivers and a recording event sink.</summary>
public sealed class TestGraph : IAsyncDisposable
{
    public TestGraph(MemoryDriverFactory? memory = null)
    {
        Memory = memory ?? new MemoryDriverFactory();
        Graph.RegisterDriver(new FileDriverFactory());
        Graph.RegisterDriver(new RawDriverFactory());
        Graph.RegisterDriver(new NullDriverFactory());
        Graph.RegisterDriver(Memory);
        Graph.Events = Events;
    }

    public BlockGraph Graph { get; } = new();

    public MemoryDriverFactory Memory { get; }

    public RecordingEventSink Events { get; } = new();

    /// <summary>Node names, oldest first.</summary>
    public IReadOnlyList<string> NodeNames => Graph.Nodes.Select(n => n.NodeName).ToList();

    public ValueTask<BlockNode> AddAsync(Core.Options.OptionDict options, CancellationToken ct = default) =>
        Graph.AddNodeAsync(options, ct);

    /// <summary>Attaches an anonymous user and returns the edge to do I/O through.</summary>
    public BlockChild Attach(string nodeName, BlockPermissions perm, BlockPermissions shared = BlockPermissions.All, string? userName = null) =>
        Graph.AttachUser(userName, Graph.GetNode(nodeName), perm, shared).Root!;

    public ValueTask DisposeAsync() => SpawnGate.CloseAsync(() => Graph.CloseAllAsync());
}
