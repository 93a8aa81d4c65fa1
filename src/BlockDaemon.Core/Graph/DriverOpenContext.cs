using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Core.Graph;

/// <summary>What a driver sees while it opens: its node, its own options, and a way to open children.</summary>
public sealed class DriverOpenContext
{
    private readonly BlockGraph _graph;
    private readonly GraphChange _change;

    internal DriverOpenContext(BlockGraph graph, GraphChange change, BlockNode node, OptionDict driverOptions)
    {
        _graph = graph;
        _change = change;
        Node = node;
        Options = driverOptions;
    }

    public BlockNode Node { get; }

    /// <summary>The driver-specific options (common members and child references removed as they are consumed).</summary>
    public OptionDict Options { get; }

    /// <summary>
    /// Opens the child named by option <paramref name="key"/>: a string names an existing node, a
    /// dict describes a new one (auto-named, inheriting read-only and cache options). The edge's
    /// permissions are computed once the parent is fully open.
    /// </summary>
    public async ValueTask<BlockChild> OpenChildAsync(string key, string role, CancellationToken ct)
    {
        if (!Options.TryGet(key, out var reference) || reference is null)
        {
            throw BlockException.Invalid($"A block device must be specified for \"{key}\"");
        }
        Options.Remove(key);
        BlockNode child;
        if (reference is string name)
        {
            // A node still opening (itself, or a parent further up) is not there yet for its children.
            var found = _graph.FindNode(name);
            child = found is { IsOpen: true } ? found : throw new BlockException(BlockErrorKind.NotFound,
                $"Cannot find device='{name}' nor node-name='{name}'");
        }
        else if (reference is OptionDict inline)
        {
            child = await _graph.OpenNodeAsync(_change, inline, Node.Common, ct).ConfigureAwait(false);
        }
        else
        {
            throw BlockException.Invalid($"Invalid parameter type for '{key}', expected: BlockdevRef");
        }
        return _change.AttachChild(Node, child, role);
    }
}
