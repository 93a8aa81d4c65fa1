using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Options;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// The mirror_top node mirror_start_job slides above the source of a mirror or active commit:
/// named by 'filter-node-name', else implicit with an automatic name (query-block looks through
/// it). Its "backing" child is the source; exports and other users of the source move onto it.
/// </summary>
internal static class MirrorTopFilter
{
    public static async ValueTask<BlockNode> InsertAsync(CommandContext context, BlockNode source, string? filterNodeName, bool commit = false)
    {
        var options = new OptionDict();
        options.Set("driver", "mirror_top");
        if (filterNodeName is not null)
        {
            options.Set("node-name", filterNodeName);
        }
        options.Set("backing", source.NodeName);
        if (commit)
        {
            options.Set("x-commit", true);
        }
        try
        {
            return await context.Graph.InsertFilterAsync(options, source, "backing").ConfigureAwait(false);
        }
        catch (BlockException e)
        {
            throw QmpErrors.From(e);
        }
    }

    /// <summary>For a job that never started: the filter goes again, its parents back on the source.</summary>
    public static async ValueTask RemoveAsync(CommandContext context, BlockNode filter)
    {
        if (context.Graph.FindNode(filter.NodeName) == filter)
        {
            await context.Graph.RemoveFilterAsync(filter).ConfigureAwait(false);
        }
    }
}
