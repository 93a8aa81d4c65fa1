using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// x-blockdaemon-plan-merge (blockd's own, not in qsd): what a block-stream and a block-commit
/// would move to remove one point in time from a live node's backing chain, computed by
/// <see cref="MergePlan"/> through a temporary user that takes no permission and shares all,
/// so it blocks nobody and reads only allocation status.
/// </summary>
public static class PlanMergeQmpCommand
{
    internal static void Register(CommandRegistry registry) => registry.Add("x-blockdaemon-plan-merge", PlanMerge);

    private static async Task<JsonNode?> PlanMerge(CommandContext context, JsonObject arguments)
    {
        string name = arguments["node"]!.GetValue<string>();
        long point = arguments["remove-point"]!.GetValue<long>();
        var graph = context.Graph;
        var node = graph.Users.FirstOrDefault(u => u.Name == name && u.Root is not null)?.Root!.Node ?? graph.FindNode(name)
            ?? throw QmpException.Generic($"Cannot find device='{name}' nor node-name='{name}'");
        var user = graph.AttachUser(null, node, BlockPermissions.None, BlockPermissions.All);
        try
        {
            var chain = MergePlan.Chain(user.Root!);
            if (point < 0 || point >= chain.Count)
            {
                throw QmpException.Generic($"Point {point} is not in the chain (points 0 to {chain.Count - 1}, 0 the base)");
            }
            MergePlan plan;
            try
            {
                plan = await MergePlan.ComputeAsync(user.Root!, (int)point).ConfigureAwait(false);
            }
            catch (BlockException e)
            {
                throw QmpErrors.From(e);
            }
            var names = chain.Select(e => e.Node.NodeName).ToList();
            string cheaper = !plan.Stream.Possible ? "commit" : !plan.Commit.Possible ? "stream"
                : plan.Stream.DataBytes < plan.Commit.DataBytes ? "stream"
                : plan.Commit.DataBytes < plan.Stream.DataBytes ? "commit" : "either";
            return new JsonObject
            {
                ["node-name"] = names[(int)point],
                ["point"] = point,
                ["points"] = plan.Points,
                ["stream"] = Cost(plan.Stream, point + 1 < names.Count ? names[(int)point + 1] : null),
                ["commit"] = Cost(plan.Commit, point > 0 ? names[(int)point - 1] : null),
                ["cheaper"] = cheaper,
            };
        }
        finally
        {
            graph.DetachUser(user);
        }
    }

    private static JsonObject Cost(MergeCost cost, string? into)
    {
        var json = new JsonObject { ["possible"] = cost.Possible };
        if (cost.Possible)
        {
            json["into"] = into;
            json["data-bytes"] = cost.DataBytes;
            json["zero-bytes"] = cost.ZeroBytes;
        }
        return json;
    }
}
