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
        var node = context.Graph.Users.FirstOrDefault(u => u.Name == device && u.Root is not null)?.Root!.Node
            ?? context.Graph.FindNode(device)
            ?? throw QmpException.Generic($"Cannot find device='{device}' nor node-name='{device}'");
        if (node.Parents.Any(p => p.Parent is BlockNode or BlockUser { IsJobChild: true }))
        {
            throw QmpException.Generic("Need a root block node");
        }
        return node;
    }
}
