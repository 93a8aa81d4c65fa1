using BlockDaemon.Core.Graph;

namespace BlockDaemon.Qmp.Commands;

/// <summary>QEMU's qmp_get_root_bs, shared by the commands that act on a whole device.</summary>
internal static class RootNodeLookup
{
    /// <summary>
    /// A named backend's root or a node by name, refused unless only backends use it: a node
    /// under another node, or one a block job holds (a child_job parent in QEMU), is not a root.
    /// </summary>
    public static BlockNode Find(CommandContext context, string device)
    {
        var node = Lookup(context, device)
            ?? throw QmpException.Generic($"Cannot find device='{device}' nor node-name='{device}'");
        RequireRoot(node);
        return node;
    }

    /// <summary>bdrv_lookup_bs(device, device): a named backend's root, else a node by name.</summary>
    public static BlockNode? Lookup(CommandContext context, string device) =>
        context.Graph.Users.FirstOrDefault(u => u.Name == device && u.Root is not null)?.Root!.Node
        ?? context.Graph.FindNode(device);

    /// <summary>bdrv_is_root_node, in qsd's words when it is not.</summary>
    public static void RequireRoot(BlockNode node)
    {
        if (node.Parents.Any(p => p.Parent is BlockNode or BlockUser { IsJobChild: true }))
        {
            throw QmpException.Generic("Need a root block node");
        }
    }
}
