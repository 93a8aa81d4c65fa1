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

    // The options a parent passes on (QEMU copies each only where the parent's own options have it).
    private static readonly string[] InheritedKeys = ["read-only", "auto-read-only", "cache.direct", "cache.no-flush"];

    /// <summary>A parent's new options, and which of the inherited ones its options actually hold.</summary>
    private sealed record ReopenParent(NodeOptions Common, HashSet<string> Present);

    private static bool HasOption(OptionDict options, string key) =>
        key.StartsWith("cache.", StringComparison.Ordinal) ? options.GetDict("cache")?.Contains(key["cache.".Length..]) == true : options.Contains(key);

    private static void QueueReopen(List<ReopenEntry> queue, BlockNode node, OptionDict given, ReopenParent? parent, bool keepOld)
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
        entry.KeepOld = keepOld;
        // A child keeps its current value of what the parent does not pass on; a child given
        // anew starts from the defaults, as when it was opened.
        var basis = keepOld ? node.Common : parent?.Common;
        entry.InheritFrom = parent is null ? null : basis! with
        {
            // The mode the node is in now: a job may have switched it since it was opened.
            ReadOnly = parent.Present.Contains("read-only") ? parent.Common.ReadOnly : keepOld && node.ReadOnly,
            AutoReadOnly = parent.Present.Contains("auto-read-only") ? parent.Common.AutoReadOnly : keepOld && basis!.AutoReadOnly,
            CacheDirect = parent.Present.Contains("cache.direct") ? parent.Common.CacheDirect : keepOld && basis!.CacheDirect,
            CacheNoFlush = parent.Present.Contains("cache.no-flush") ? parent.Common.CacheNoFlush : keepOld && basis!.CacheNoFlush,
        };
        // A child staying where it is has all its options at hand; others only what was given or passed on.
        var present = InheritedKeys.Where(k => keepOld || HasOption(explicitOptions, k) || parent?.Present.Contains(k) == true).ToHashSet();

        var children = node.Children.Where(node.PassesOptionsTo).ToList();
        if (children.Count == 0)
        {
            return;
        }
        // What the children inherit; a set too broken to parse fails later, when it is checked.
        NodeOptions common;
        try
        {
            common = NodeOptions.Parse(explicitOptions, entry.InheritFrom, reopen: true).Common;
        }
        catch (Errors.BlockException)
        {
            return;
        }
        var passedOn = new ReopenParent(common, present);
        foreach (var edge in children)
        {
            if (edge.Role == "backing")
            {
                // Backing files are read-only unless their own options say otherwise. A backing
                // named by its node name stays as it is: blockd's jobs change a backing's mode
                // without recording it as the node's own option, which qsd's would keep.
                if (explicitOptions.TryGet("backing", out var backingReference) && backingReference is OptionDict backingOptions)
                {
                    var backingParent = new ReopenParent(common with { ReadOnly = true, AutoReadOnly = false },
                        [.. present, "read-only", "auto-read-only"]);
                    QueueReopen(queue, edge.Node, backingOptions, backingParent, keepOld: false);
                }
                continue;
            }
            if (!explicitOptions.TryGet(edge.Role, out var reference))
            {
                if (keepOld)
                {
                    QueueReopen(queue, edge.Node, new OptionDict(), passedOn, keepOld: true);
                }
                continue;
            }
            switch (reference)
            {
                case string name when name == edge.Node.NodeName:
                    QueueReopen(queue, edge.Node, new OptionDict(), passedOn, keepOld: true);
                    break;
                case OptionDict inline:
                    QueueReopen(queue, edge.Node, inline, passedOn, keepOld: false);
                    break;
            }
        }
    }
}
