using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Graph;

// Frozen chain links (QEMU's bdrv_freeze_backing_chain): while a job or a copy-on-read node
// with a bottom relies on a stretch of the chain, its links may not be pointed elsewhere.
public sealed partial class BlockGraph
{
    /// <summary>
    /// Freezes every chain link (<see cref="ChainChildOf"/>) from <paramref name="top"/> down to
    /// <paramref name="stopAt"/> (its own link excluded; null: the whole chain), with
    /// bdrv_freeze_backing_chain's refusals: nothing is frozen if a link is frozen already or
    /// points at a job's filter. Returns the links frozen, for <see cref="Unfreeze"/>.
    /// </summary>
    public static IReadOnlyList<BlockChild> FreezeChainChecked(BlockNode top, BlockNode? stopAt) => FreezeLinks(ChainLinks(top, stopAt));

    /// <summary>
    /// Freezes <paramref name="links"/> (node-to-node edges, top first) after qsd's checks, in
    /// its order: first any link frozen already (bdrv_is_backing_chain_frozen), then any link to
    /// a node that may never be frozen under (<see cref="INeverFrozen"/>).
    /// </summary>
    public static IReadOnlyList<BlockChild> FreezeLinks(IReadOnlyList<BlockChild> links)
    {
        foreach (var link in links)
        {
            if (link.Frozen)
            {
                throw BlockException.Invalid($"Cannot change '{link.Role}' link from '{ParentName(link)}' to '{link.Node.NodeName}'");
            }
        }
        foreach (var link in links)
        {
            if (link.Node.Driver is INeverFrozen)
            {
                throw BlockException.Invalid($"Cannot freeze '{link.Role}' link to '{link.Node.NodeName}'");
            }
        }
        foreach (var link in links)
        {
            link.FrozenCount++;
        }
        return links;
    }

    /// <summary>
    /// The chain links from <paramref name="top"/> down to <paramref name="stopAt"/> (its own
    /// link excluded; null: the whole chain), as <see cref="FreezeChainChecked"/> takes them.
    /// </summary>
    public static List<BlockChild> ChainLinks(BlockNode top, BlockNode? stopAt)
    {
        var links = new List<BlockChild>();
        for (var node = top; node != stopAt; node = links[^1].Node)
        {
            if (ChainChildOf(node) is not { } link)
            {
                if (stopAt is not null)
                {
                    throw new InvalidOperationException($"Node '{stopAt.NodeName}' is not in the chain below '{top.NodeName}'");
                }
                break;
            }
            links.Add(link);
        }
        return links;
    }

    private static string ParentName(BlockChild link) => link.Parent is BlockNode parent ? parent.NodeName : link.Parent.ParentDescription;

    /// <summary>Whether <paramref name="node"/> lies below <paramref name="top"/> along its chain links.</summary>
    public static bool IsInChain(BlockNode top, BlockNode node)
    {
        for (var below = ChainNextOf(top); below is not null; below = ChainNextOf(below))
        {
            if (below == node)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Gives back what <see cref="FreezeLinks"/> froze.</summary>
    public static void Unfreeze(IReadOnlyList<BlockChild> links)
    {
        foreach (var link in links)
        {
            link.FrozenCount--;
        }
    }

    /// <summary>
    /// bdrv_replace_node's refusal: a frozen link to <paramref name="node"/> may not be moved onto
    /// <paramref name="newNode"/>. Every parent qsd would move counts, also those blockd leaves
    /// where they are (an intermediate commit's filter takes only the overlay's link).
    /// </summary>
    internal static void CheckParentLinksNotFrozen(BlockNode node, BlockNode newNode)
    {
        foreach (var edge in node.Parents)
        {
            if (edge.Frozen && edge.Parent is BlockNode parent && parent != newNode && !IsAtOrBelow(parent, newNode))
            {
                throw BlockException.Invalid($"Cannot change '{edge.Role}' link to '{node.NodeName}'");
            }
        }
    }

    /// <summary>bdrv_set_file_or_backing_noperm's refusal to move a frozen link.</summary>
    internal static void CheckNotFrozen(BlockNode parent, BlockChild? link)
    {
        if (link is { Frozen: true })
        {
            throw BlockException.Invalid($"Cannot change frozen '{link.Role}' link from '{parent.NodeName}' to '{link.Node.NodeName}'");
        }
    }
}
