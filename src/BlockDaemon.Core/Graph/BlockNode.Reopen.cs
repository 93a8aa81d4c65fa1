using BlockDaemon.Core.Options;

namespace BlockDaemon.Core.Graph;

public sealed partial class BlockNode
{
    private OptionDict? _reopenedExplicit;

    /// <summary>
    /// The options the user set for this node itself (QEMU's explicit_options): what blockdev-add
    /// gave, or what the last blockdev-reopen left, without child links. A child reopened along
    /// with its parent keeps these and inherits the rest (read-only, cache) from the parent again.
    /// </summary>
    public OptionDict ExplicitOptions
    {
        get
        {
            if (_reopenedExplicit is { } reopened)
            {
                return reopened;
            }
            var options = FullOptions.Clone();
            foreach (var edge in Children)
            {
                options.Remove(edge.Role);
            }
            options.Remove("backing");
            return options;
        }
        internal set => _reopenedExplicit = value;
    }

    /// <summary>The options the last blockdev-reopen that named this node gave it (null: none yet, those it was opened with).</summary>
    internal IReadOnlyList<string>? ReopenedOptionKeys { get; set; }

    /// <summary>
    /// This node's <paramref name="edge"/> leads to a child it created from inline options and
    /// passes its options on to (QEMU's inherits_from): only such a child is reopened with it.
    /// </summary>
    internal bool PassesOptionsTo(BlockChild edge)
    {
        if (!FullOptions.TryGet(edge.Role, out var given))
        {
            // A backing file the image named, opened with the node (not one a job or snapshot put there).
            return edge.Role == "backing" && !edge.Node.MonitorOwned && !edge.Node.ImplicitFilter;
        }
        return given is OptionDict;
    }
}
