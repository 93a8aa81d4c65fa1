using System.Text.Json.Nodes;
using BlockDaemon.Core.Jobs;

namespace BlockDaemon.Qmp.Commands;

/// <summary>job.json: query-jobs and the verbs every job accepts, by job id.</summary>
public static class JobCommands
{
    internal static void Register(CommandRegistry registry)
    {
        registry.Add("query-jobs", QueryJobs);
        registry.Add("job-pause", (c, a) => Sync(() => Find(c, a).UserPause()));
        registry.Add("job-resume", (c, a) => Sync(() => Find(c, a).UserResume()));
        // job-cancel is always a forced cancel (block-job-cancel is the one with a choice).
        registry.Add("job-cancel", async (c, a) =>
        {
            var job = Find(c, a);
            job.HoldCompletionUntil(c.ReplySent());
            await job.UserCancelAsync(force: true).ConfigureAwait(false);
            return null;
        });
        registry.Add("job-complete", async (c, a) =>
        {
            var job = Find(c, a);
            job.HoldCompletionUntil(c.ReplySent());
            await job.CompleteAsync().ConfigureAwait(false);
            return null;
        });
        registry.Add("job-finalize", async (c, a) =>
        {
            await Find(c, a).FinalizeAsync().ConfigureAwait(false);
            return null;
        });
        registry.Add("job-dismiss", (c, a) => Sync(() => Find(c, a).Dismiss()));
    }

    private static Job Find(CommandContext context, JsonObject arguments) => context.Jobs.Get(arguments["id"]!.GetValue<string>());

    private static Task<JsonNode?> Sync(Action verb)
    {
        verb();
        return Task.FromResult<JsonNode?>(null);
    }

    private static Task<JsonNode?> QueryJobs(CommandContext context, JsonObject arguments)
    {
        var list = new JsonArray();
        foreach (var job in context.Jobs.Jobs.Where(j => j.Id is not null))
        {
            var info = new JsonObject
            {
                ["id"] = job.Id,
                ["type"] = job.Type.ToQapi(),
                ["status"] = job.Status.ToQapi(),
                ["current-progress"] = job.Progress.Current,
                ["total-progress"] = job.Progress.Total,
            };
            if (job.Error is { } error)
            {
                info["error"] = error;
            }
            list.Add((JsonNode)info);
        }
        return Task.FromResult<JsonNode?>(list);
    }
}
