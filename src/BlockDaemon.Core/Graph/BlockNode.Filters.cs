namespace BlockDaemon.Core.Graph;

public sealed partial class BlockNode
{
    /// <summary>
    /// A filter a job inserted without a node name (QEMU's bs->implicit): query-block looks
    /// through it to the node below.
    /// </summary>
    public bool ImplicitFilter { get; internal set; }

    /// <summary>For a node inserted by <see cref="BlockGraph.InsertFilterAsync"/>: the role of the edge to the node it filters.</summary>
    public string? FilterChildRole { get; internal set; }
}
