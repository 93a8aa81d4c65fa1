using BlockDaemon.Core.Graph;

namespace BlockDaemon.Qmp.Commands;

/// <summary>Questions about a node's backing chain that the job commands ask.</summary>
internal static class ChainLookup
{
    /// <summary>bdrv_chain_contains: <paramref name="node"/> is <paramref name="top"/> or below it.</summary>
    public static bool Contains(BlockNode top, BlockNode node)
    {
        for (var n = top; n is not null; n = BlockGraph.ChainNextOf(n))
        {
            if (n == node)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// bdrv_find_backing_image: the backing node whose file name is <paramref name="name"/>, either
    /// as given or resolved against the directory of the image above it.
    /// </summary>
    public static BlockNode? FindBackingImage(BlockNode top, string name)
    {
        for (var (above, n) = (top, BlockGraph.BackingOf(top)); n is not null; (above, n) = (n, BlockGraph.BackingOf(n)))
        {
            string file = n.Driver.DisplayName;
            if (file == name)
            {
                return n;
            }
            string? directory = Path.GetDirectoryName(above.Driver.DisplayName);
            string resolved = Path.IsPathRooted(name) || string.IsNullOrEmpty(directory) ? name : Path.Combine(directory, name);
            if (Path.GetFullPath(resolved) == Path.GetFullPath(file))
            {
                return n;
            }
        }
        return null;
    }
}
