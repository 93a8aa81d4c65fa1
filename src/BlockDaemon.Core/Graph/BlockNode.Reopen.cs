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

    /// <summary>
    /// This node's <paramref name="edge"/> leads to a child it created from inline options and
    /// passes its options on to (QEMU's inherits_from): only such a child is reopened with it.
    /// </summary>
    internal bool PassesOptionsTo(BlockChild edge) =>
        edge.Role != "backing" && FullOptions.TryGet(edge.Role, out var given) && given is OptionDict;
}
