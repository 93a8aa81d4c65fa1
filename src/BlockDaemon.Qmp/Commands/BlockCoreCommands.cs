using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;

namespace BlockDaemon.Qmp.Commands;

/// <summary>block-core.json: adding, removing, querying and resizing nodes; write thresholds.</summary>
public static class BlockCoreCommands
{
    internal static void Register(CommandRegistry registry)
    {
        registry.Add("blockdev-add", BlockdevAdd);
        registry.Add("blockdev-del", BlockdevDel);
        registry.Add("query-named-block-nodes", QueryNamedBlockNodes);
        registry.Add("query-block", QueryBlock);
        registry.Add("x-debug-query-block-graph", QueryBlockGraph);
        registry.Add("block_resize", BlockResize);
        registry.Add("blockdev-reopen", BlockdevReopen);
        registry.Add("block-set-write-threshold", SetWriteThreshold);
    }

    public static async Task<JsonNode?> BlockdevAdd(CommandContext context, JsonObject arguments)
    {
        if (arguments["node-name"] is null)
        {
            throw QmpException.Generic("'node-name' must be specified for the root node");
        }
        var existing = context.Graph.Nodes.ToHashSet();
        var node = await context.Graph.AddNodeAsync(OptionConverter.ToOptions(arguments)).ConfigureAwait(false);
        // qsd 7.2 drains an existing node twice while it attaches a new parent to it: the jobs
        // that use it (or a node above it) pause and resume twice before the reply.
        foreach (var child in AttachedExisting(node, existing))
        {
            await context.Graph.DrainJobsAsync(child, times: 2).ConfigureAwait(false);
        }
        return null;
    }

    // The nodes that existed before a blockdev-add and that the new nodes took as children.
    private static List<BlockNode> AttachedExisting(BlockNode added, HashSet<BlockNode> existing)
    {
        var found = new List<BlockNode>();
        var pending = new Stack<BlockNode>([added]);
        while (pending.TryPop(out var node))
        {
            foreach (var edge in node.Children)
            {
                // A backing link to an existing node drains nothing in qsd (seen in iotest 171).
                if (existing.Contains(edge.Node))
                {
                    if (edge.Role == "backing")
                    {
                        continue;
                    }
                    if (!found.Contains(edge.Node))
                    {
                        found.Add(edge.Node);
                    }
                }
                else
                {
                    pending.Push(edge.Node);
                }
            }
        }
        return found;
    }

    private static async Task<JsonNode?> BlockdevReopen(CommandContext context, JsonObject arguments)
    {
        var sets = arguments["options"]!.AsArray().Select(o => OptionConverter.ToOptions(o!.AsObject())).ToList();
        await context.Graph.ReopenAsync(sets).ConfigureAwait(false);
        return null;
    }

    private static async Task<JsonNode?> BlockdevDel(CommandContext context, JsonObject arguments)
    {
        await context.Graph.DeleteNodeAsync(arguments["node-name"]!.GetValue<string>()).ConfigureAwait(false);
        return null;
    }

    private static Task<JsonNode?> QueryNamedBlockNodes(CommandContext context, JsonObject arguments)
    {
        bool flat = arguments["flat"]?.GetValue<bool>() ?? false;
        var list = new JsonArray();
        for (int i = context.Graph.Nodes.Count - 1; i >= 0; i--)
        {
            list.Add((JsonNode)BlockInfoBuilder.DeviceInfo(context.Graph.Nodes[i], flat));
        }
        return Task.FromResult<JsonNode?>(list);
    }

    // qsd lists only named backends here; exports and jobs use anonymous ones.
    private static Task<JsonNode?> QueryBlock(CommandContext context, JsonObject arguments)
    {
        var list = new JsonArray();
        foreach (var user in context.Graph.Users.Where(u => u.Name is not null && u.Root is not null))
        {
            list.Add((JsonNode)new JsonObject
            {
                ["device"] = user.Name,
                ["type"] = "unknown",
                ["removable"] = false,
                ["locked"] = false,
                ["inserted"] = BlockInfoBuilder.DeviceInfo(user.Root!.Node),
                ["io-status"] = "ok",
            });
        }
        return Task.FromResult<JsonNode?>(list);
    }

    private static Task<JsonNode?> QueryBlockGraph(CommandContext context, JsonObject arguments) =>
        Task.FromResult<JsonNode?>(BlockInfoBuilder.Graph(context.Graph));

    private static async Task<JsonNode?> BlockResize(CommandContext context, JsonObject arguments)
    {
        string? device = arguments["device"]?.GetValue<string>();
        string? nodeName = arguments["node-name"]?.GetValue<string>();
        long size = arguments["size"]!.GetValue<long>();
        var node = (nodeName is null ? null : context.Graph.FindNode(nodeName))
            ?? throw QmpException.Generic($"Cannot find device='{device ?? ""}' nor node-name='{nodeName ?? ""}'");
        if (size < 0)
        {
            throw QmpException.Generic("Parameter 'size' expects a >0 size");
        }
        if (node.BackingOverlay is not null || node.Blockers.Count > 0)
        {
            // qmp_block_resize reports the op blocker as QERR_DEVICE_IN_USE with the device
            // argument, which is NULL (printed "(null)") whenever the node was found by node-name.
            throw QmpException.Generic($"Device '{device ?? "(null)"}' is in use");
        }
        // Like QEMU, a temporary anonymous user takes the resize permission for the duration.
        var user = context.Graph.AttachUser(null, node, BlockPermissions.Resize, BlockPermissions.All);
        try
        {
            await user.Root!.TruncateAsync(size).ConfigureAwait(false);
        }
        finally
        {
            context.Graph.DetachUser(user);
        }
        return null;
    }

    private static Task<JsonNode?> SetWriteThreshold(CommandContext context, JsonObject arguments)
    {
        string nodeName = arguments["node-name"]!.GetValue<string>();
        var node = context.Graph.FindNode(nodeName) ?? throw QmpException.Generic($"Device '{nodeName}' not found");
        var threshold = arguments["write-threshold"]!;
        node.WriteThreshold = threshold.AsValue().TryGetValue(out long l) ? l : unchecked((long)threshold.GetValue<ulong>());
        return Task.FromResult<JsonNode?>(null);
    }
}
