using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Events;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Core.Graph;

/// <summary>
/// All nodes by name and every change to their edges. Only the control loop calls the members
/// that change the graph, so they need no locks; the data plane only reads edges it holds.
/// </summary>
public sealed partial class BlockGraph
{
    /// <summary>QEMU keeps node names in a 32-byte field, NUL included.</summary>
    public const int MaxNodeNameLength = 31;

    private readonly Dictionary<string, BlockNode> _nodes = new(StringComparer.Ordinal);
    private readonly List<BlockNode> _ordered = [];
    private readonly List<BlockUser> _users = [];
    private readonly Dictionary<string, IBlockDriverFactory> _drivers = new(StringComparer.Ordinal);
    private long _serial;
    private long _autoNameCounter;

    public IBlockEventSink Events { get; set; } = NullBlockEventSink.Instance;

    /// <summary>Every node, oldest first.</summary>
    public IReadOnlyList<BlockNode> Nodes => _ordered;

    /// <summary>Users attached with <see cref="AttachUser"/>, oldest first.</summary>
    public IReadOnlyList<BlockUser> Users => _users;

    public IEnumerable<string> DriverNames => _drivers.Keys;

    public void RegisterDriver(IBlockDriverFactory factory) => _drivers[factory.DriverName] = factory;

    public BlockNode? FindNode(string name) => _nodes.GetValueOrDefault(name);

    public BlockNode GetNode(string name) => FindNode(name) ?? throw BlockException.NodeNotFound(name);

    /// <summary>blockdev-add: opens a node (and its inline children) owned by the monitor.</summary>
    public async ValueTask<BlockNode> AddNodeAsync(OptionDict options, CancellationToken ct = default)
    {
        await using var change = new GraphChange();
        var node = await OpenNodeAsync(change, options, null, ct).ConfigureAwait(false);
        PermissionUpdate.Refresh([node]);
        await change.CompleteOpenAsync(ct).ConfigureAwait(false);
        node.MonitorOwned = true;
        change.Commit();
        return node;
    }

    internal async ValueTask<BlockNode> OpenNodeAsync(GraphChange change, OptionDict options, NodeOptions? inherit, CancellationToken ct)
    {
        var (common, driverOptions) = NodeOptions.Parse(options, inherit);
        if (common.NodeName is { } given)
        {
            ValidateNewName(given);
        }
        if (!_drivers.TryGetValue(common.Driver, out var factory))
        {
            throw BlockException.Invalid($"Unknown driver '{common.Driver}'");
        }
        if (factory.HasFileChild && driverOptions.GetDict("file") is { } inlineFile)
        {
            // The driver finds the already open child by its name, as QEMU puts it back into the options.
            var file = await OpenNodeAsync(change, inlineFile, common, ct).ConfigureAwait(false);
            driverOptions.Set("file", file.NodeName);
        }
        // Named and registered before the driver opens its other children (backing, data file).
        string name = common.NodeName is { } wanted ? ValidateNewName(wanted) : GenerateName();
        var node = new BlockNode(this, name, common.NodeName is null, common, options, ++_serial);
        _nodes.Add(name, node);
        _ordered.Add(node);
        change.OnAbort(() =>
        {
            _nodes.Remove(name);
            _ordered.Remove(node);
            return ValueTask.CompletedTask;
        });
        var context = new DriverOpenContext(this, change, node, driverOptions);
        node.Driver = await factory.OpenAsync(context, ct).ConfigureAwait(false);
        change.OnAbort(() => node.Driver.DisposeAsync());
        change.Opened(node);
        return node;
    }

    /// <summary>blockdev-del: closes a monitor-owned node nobody uses, and its implicit children.</summary>
    public async ValueTask DeleteNodeAsync(string name, CancellationToken ct = default)
    {
        var node = GetNode(name);
        if (node.Parents.Any(p => p.Parent is BlockUser { IsJobChild: false }))
        {
            throw new BlockException(BlockErrorKind.Busy, $"Node {name} is in use");
        }
        node.CheckNotBlocked();
        // QEMU's op blocker on a backing node, checked before ownership as qsd does.
        if (node.BackingOverlay is { } overlay)
        {
            throw new BlockException(BlockErrorKind.Busy, $"Node '{name}' is busy: node is used as backing hd of '{overlay.NodeName}'");
        }
        if (!node.MonitorOwned)
        {
            throw new BlockException(BlockErrorKind.Busy, $"Node {name} is not owned by the monitor");
        }
        if (node.Parents.Count > 0)
        {
            throw new BlockException(BlockErrorKind.Busy, $"Block device {name} is in use");
        }
        await CloseNodeAsync(node, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Attaches a user (export, job, command) to a node with the permissions it needs. A job's
    /// own child may carry QEMU's name for it (<paramref name="role"/>, "intermediate node") and
    /// the job's description, which permission errors show.
    /// </summary>
    public BlockUser AttachUser(string? userName, BlockNode node, BlockPermissions perm, BlockPermissions shared, bool jobChild = false,
        string role = "root", string? jobDescription = null)
    {
        var user = new BlockUser(userName) { IsJobChild = jobChild, JobDescription = jobDescription };
        var edge = Link(user, node, role, perm, shared);
        try
        {
            PermissionUpdate.Refresh([node]);
        }
        catch
        {
            Unlink(edge);
            throw;
        }
        user.Root = edge;
        _users.Add(user);
        return user;
    }

    public void DetachUser(BlockUser user)
    {
        if (user.Root is not { } edge)
        {
            return;
        }
        Unlink(edge);
        user.Root = null;
        _users.Remove(user);
        // Dropping permissions cannot conflict; a failure here would only come from the host.
        PermissionUpdate.Refresh([edge.Node]);
    }

    /// <summary>Shutdown: drains, flushes and closes every node, users and parents first.</summary>
    public async ValueTask CloseAllAsync(CancellationToken ct = default)
    {
        foreach (var user in _users.ToArray())
        {
            DetachUser(user);
        }
        while (_ordered.Count > 0)
        {
            var top = _ordered.LastOrDefault(n => n.Parents.Count == 0) ?? _ordered[^1];
            await CloseNodeAsync(top, ct).ConfigureAwait(false);
        }
    }

    private async ValueTask CloseNodeAsync(BlockNode node, CancellationToken ct)
    {
        await node.Requests.DrainAsync(ct).ConfigureAwait(false);
        try
        {
            if (!node.ReadOnly)
            {
                try
                {
                    await node.Driver.FlushAsync(ct).ConfigureAwait(false);
                }
                catch (BlockException)
                {
                    // Closing goes on: QEMU also closes a node whose final flush failed.
                }
            }
            try
            {
                await node.Driver.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A driver that fails to close still leaves the graph: a half-removed node
                // would hold its children and names for the rest of the daemon's life.
            }
        }
        finally
        {
            node.Requests.EndDrain();
        }
        foreach (var parentEdge in node.Parents.ToArray())
        {
            Unlink(parentEdge);
        }
        _nodes.Remove(node.NodeName);
        _ordered.Remove(node);
        var children = node.Children.ToArray();
        foreach (var edge in children)
        {
            Unlink(edge);
        }
        foreach (var edge in children)
        {
            var child = edge.Node;
            if (!_nodes.ContainsKey(child.NodeName))
            {
                continue;
            }
            if (!child.MonitorOwned && child.Parents.Count == 0)
            {
                await CloseNodeAsync(child, ct).ConfigureAwait(false);
            }
            else
            {
                PermissionUpdate.Refresh([child]);
            }
        }
    }

    internal static BlockChild Link(IBlockParent parent, BlockNode child, string role, BlockPermissions perm, BlockPermissions shared)
    {
        var edge = new BlockChild(parent, child, role, perm, shared);
        if (parent is BlockNode parentNode)
        {
            parentNode.Children.Add(edge);
        }
        child.Parents.Insert(0, edge);
        return edge;
    }

    internal static void Unlink(BlockChild edge)
    {
        if (edge.Parent is BlockNode parentNode)
        {
            parentNode.Children.Remove(edge);
        }
        edge.Node.Parents.Remove(edge);
    }

    private string ValidateNewName(string name)
    {
        if (!IsWellFormedName(name))
        {
            throw BlockException.Invalid($"Invalid node-name: '{name}'");
        }
        if (_nodes.ContainsKey(name))
        {
            throw BlockException.Invalid($"Duplicate nodes with node-name='{name}'");
        }
        if (name.Length > MaxNodeNameLength)
        {
            throw BlockException.Invalid("Node name too long");
        }
        return name;
    }

    /// <summary>QEMU's id_wellformed: a letter, then letters, digits, '-', '.', '_'.</summary>
    public static bool IsWellFormedName(string name) =>
        name.Length > 0 && char.IsAsciiLetter(name[0])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_');

    // QEMU's id_generate: '#block', a counter, and two random digits so nobody relies on the number.
    private string GenerateName()
    {
        string name;
        do
        {
            name = $"#block{_autoNameCounter++}{Random.Shared.Next(100):D2}";
        }
        while (_nodes.ContainsKey(name));
        return name;
    }
}
