using BlockDaemon.Core.Options;

namespace BlockDaemon.Core.Graph;

// The set of nodes one blockdev-reopen touches, built as qsd builds its reopen queue: each named
// node, then (recursively) each child it created inline and still points at, which is reopened
// with it and inherits its new read-only and cache options. A node met twice keeps its first place
// and gets the later options over the earlier ones, so the same node may be named twice.
public sealed partial class BlockGraph
{
    private sealed class ReopenEntry(BlockNode node)
    {
        public BlockNode Node { get; } = node;

        /// <summary>The options set for the node itself in this reopen (becomes its ExplicitOptions).</summary>
        public OptionDict Explicit { get; set; } = new();

        /// <summary>The parent's new options, for a child reopened with its parent; null for a named node.</summary>
        public NodeOptions? InheritFrom { get; set; }

        /// <summary>A child that stays where it is: it keeps its own options, nothing is reset.</summary>
        public bool KeepOld { get; set; }
    }

    private static void QueueReopen(List<ReopenEntry> queue, BlockNode node, OptionDict given, NodeOptions? inheritFrom, bool keepOld)
    {
        var entry = queue.Find(e => e.Node == node);
        var explicitOptions = given.Clone();
        if (entry is not null || keepOld)
        {
            foreach (var (key, value) in (entry?.Explicit ?? node.ExplicitOptions).Items)
            {
                if (!explicitOptions.Contains(key))
                {
                    explicitOptions.Set(key, value);
                }
            }
        }
        if (entry is null)
        {
            entry = new ReopenEntry(node);
            queue.Add(entry);
        }
        entry.Explicit = explicitOptions;
        entry.InheritFrom = inheritFrom;
        entry.KeepOld = keepOld;

        var children = node.Children.Where(node.PassesOptionsTo).ToList();
        if (children.Count == 0)
        {
            return;
        }
        // What the children inherit; a set too broken to parse fails later, when it is checked.
        NodeOptions common;
        try
        {
            common = NodeOptions.Parse(explicitOptions, inheritFrom, reopen: true).Common;
        }
        catch (Errors.BlockException)
        {
            return;
        }
        foreach (var edge in children)
        {
            if (!explicitOptions.TryGet(edge.Role, out var reference))
            {
                if (keepOld)
                {
                    QueueReopen(queue, edge.Node, new OptionDict(), common, keepOld: true);
                }
                continue;
            }
            switch (reference)
            {
                case string name when name == edge.Node.NodeName:
                    QueueReopen(queue, edge.Node, new OptionDict(), common, keepOld: true);
                    break;
                case OptionDict inline:
                    QueueReopen(queue, edge.Node, inline, common, keepOld: false);
                    break;
            }
        }
    }
}
