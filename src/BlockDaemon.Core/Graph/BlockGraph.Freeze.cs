using BlockDaemon.Core.Errors;

namespace BlockDaemon.Core.Graph;

// Frozen chain links (QEMU's bdrv_freeze_backing_chain): while a job or a copy-on-read node
// with a bottom relies on a stretch of the chain, its links may not be pointed elsewhere.
public sealed partial class BlockGraph
{
    /// <summary>
    /// Freezes every chain link (<see cref="ChainChildOf"/>) from <paramref name="top"/> down to
    /// <paramref name="stopAt"/> (its own link excluded; null: the whole chain). Nothing is
    /// frozen if <paramref name="stopAt"/> is not in the chain. Returns the links frozen, for
    /// <see cref="Unfreeze"/>.
    /// </summary>
    public static IReadOnlyList<BlockChild> FreezeChain(BlockNode top, BlockNode? stopAt)
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
        foreach (var link in links)
        {
            link.FrozenCount++;
        }
        return links;
    }

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

    /// <summary>Gives back what <see cref="FreezeChain"/> froze.</summary>
    public static void Unfreeze(IReadOnlyList<BlockChild> links)
    {
        foreach (var link in links)
        {
            link.FrozenCount--;
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
