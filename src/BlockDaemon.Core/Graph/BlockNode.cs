using BlockDaemon.Core.Io;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Core.Graph;

/// <summary>
/// A node of the block graph: a driver instance with its name, options, children and parents.
/// Graph fields change only on the control loop; I/O goes through <see cref="BlockChild"/>.
/// </summary>
public sealed partial class BlockNode : IBlockParent
{
    private long _writeThreshold;

    internal BlockNode(BlockGraph graph, string name, bool autoNamed, NodeOptions common, OptionDict fullOptions, long serial)
    {
        Graph = graph;
        NodeName = name;
        AutoNamed = autoNamed;
        Common = common;
        FullOptions = fullOptions;
        Serial = serial;
        ReadOnly = common.ReadOnly;
    }

    public BlockGraph Graph { get; }

    public string NodeName { get; }

    /// <summary>The name was generated (#blockNNN) because the options did not give one.</summary>
    public bool AutoNamed { get; }

    /// <summary>Created by blockdev-add (or --blockdev) itself, so blockdev-del may remove it.</summary>
    public bool MonitorOwned { get; internal set; }

    public NodeOptions Common { get; internal set; }

    /// <summary>The options the node was opened with, children included, for json: file names.</summary>
    public OptionDict FullOptions { get; internal set; }

    /// <summary>Creation order, for listings and graph dumps.</summary>
    public long Serial { get; }

    public bool ReadOnly { get; internal set; }

    public IBlockDriver Driver { get; internal set; } = null!;

    /// <summary>False while the driver is still opening (the node is registered before its driver opens).</summary>
    public bool IsOpen => Driver is not null;

    public string DriverName => Driver.DriverName;

    public long Length => Driver.Length;

    /// <summary>Edges to this node's children, in the order they were attached.</summary>
    public List<BlockChild> Children { get; } = [];

    /// <summary>Edges from users of this node, newest first (the order QEMU checks and lists them).</summary>
    public List<BlockChild> Parents { get; } = [];

    /// <summary>What all parents together need (cumulative permissions).</summary>
    public BlockPermissions CumulativePerm { get; internal set; }

    /// <summary>What all parents together allow others to do.</summary>
    public BlockPermissions CumulativeShared { get; internal set; } = BlockPermissions.All;

    public RequestTracker Requests { get; } = new();

    public NodeStatistics Statistics { get; } = new();

    /// <summary>Offset past which a write raises BLOCK_WRITE_THRESHOLD once (0 = off).</summary>
    public long WriteThreshold
    {
        get => Interlocked.Read(ref _writeThreshold);
        set => Interlocked.Exchange(ref _writeThreshold, value);
    }

    public string ParentDescription => $"node '{NodeName}'";

    public BlockChild? FindChild(string role) => Children.FirstOrDefault(c => c.Role == role);

    /// <summary>
    /// The newest node that uses this one as its backing file, or null. QEMU puts an op blocker
    /// on such a node ("node is used as backing hd of ..."): it may not be resized or deleted.
    /// </summary>
    public BlockNode? BackingOverlay =>
        Parents.FirstOrDefault(p => p.Role == "backing" && p.Parent is BlockNode)?.Parent as BlockNode;

    public override string ToString() => NodeName;
}
