using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Graph;

public sealed partial class BlockGraph
{
    /// <summary>
    /// Points <paramref name="overlay"/>'s backing link at <paramref name="newBacking"/> (null: no
    /// backing) in memory, with the overlay drained. Nodes that drop out of the chain and are used
    /// by nobody else are closed, as QEMU closes them. The image header is not touched: callers
    /// rewrite it with <see cref="IBackingLink.WriteBackingFileAsync"/> after flushing the data
    /// that makes the new link correct.
    /// </summary>
    public async ValueTask ReplaceBackingAsync(BlockNode overlay, BlockNode? newBacking, CancellationToken ct = default)
    {
        if (overlay.Driver is not IBackingLink link)
        {
            throw new BlockException(BlockErrorKind.NotSupported, $"Node '{overlay.NodeName}' has no backing file link");
        }
        var drained = await DrainedBeginAsync(overlay, ct).ConfigureAwait(false);
        BlockChild? old;
        try
        {
            old = link.Backing;
            var edge = newBacking is null ? null : Link(overlay, newBacking, "backing", BlockPermissions.None, BlockPermissions.All);
            link.ReplaceBacking(edge);
            if (old is not null)
            {
                Unlink(old);
            }
            try
            {
                PermissionUpdate.Refresh(newBacking is null ? [overlay] : [overlay, newBacking]);
            }
            catch
            {
                if (edge is not null)
                {
                    Unlink(edge);
                }
                if (old is not null)
                {
                    old.Node.Parents.Insert(0, old);
                    overlay.Children.Add(old);
                }
                link.ReplaceBacking(old);
                throw;
            }
        }
        finally
        {
            drained.End();
        }
        if (old is not null && !old.Node.MonitorOwned && old.Node.Parents.Count == 0 && _nodes.ContainsKey(old.Node.NodeName))
        {
            await CloseNodeAsync(old.Node, ct).ConfigureAwait(false);
        }
        else if (old is not null)
        {
            PermissionUpdate.Refresh([old.Node]);
        }
    }

    /// <summary>Whether <paramref name="candidate"/> lies somewhere below <paramref name="node"/> (through any child).</summary>
    public static bool IsBelow(BlockNode node, BlockNode candidate) =>
        node.Children.Any(c => ReferenceEquals(c.Node, candidate) || IsBelow(c.Node, candidate));

    /// <summary>The backing node of <paramref name="node"/>, or null.</summary>
    public static BlockNode? BackingOf(BlockNode node) => (node.Driver as IBackingLink)?.Backing?.Node;

    /// <summary>
    /// The edge a walk down the chain follows from <paramref name="node"/> (QEMU's
    /// bdrv_filter_or_cow_child): an image's backing link, or the child a filter passes through,
    /// so that a filter standing in the chain (a stream's copy-on-read node on the backing link
    /// of the image above) is walked through, not taken for the chain's end.
    /// </summary>
    public static BlockChild? ChainChildOf(BlockNode node) => node.Driver switch
    {
        IBackingLink link => link.Backing,
        IFilterDriver filter => filter.FilteredChild,
        _ => null,
    };

    /// <summary>The node <see cref="ChainChildOf"/> leads to, or null.</summary>
    public static BlockNode? ChainNextOf(BlockNode node) => ChainChildOf(node)?.Node;

    /// <summary>QEMU's bdrv_skip_filters: the first node at or below <paramref name="node"/> that is not a filter.</summary>
    public static BlockNode SkipFilters(BlockNode node)
    {
        while (node.Driver is IFilterDriver { FilteredChild: { } child })
        {
            node = child.Node;
        }
        return node;
    }

    /// <summary>
    /// QEMU's bdrv_find_base: the lowest image of the chain under <paramref name="node"/>, filters
    /// skipped; the image <paramref name="node"/> stands for when it has no backing file.
    /// </summary>
    public static BlockNode FindBase(BlockNode node)
    {
        var image = SkipFilters(node);
        while (BackingOf(image) is { } below)
        {
            image = SkipFilters(below);
        }
        return image;
    }
}
