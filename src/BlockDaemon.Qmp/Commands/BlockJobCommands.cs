using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Jobs;
using BlockDaemon.Jobs.BlockJobs;
using BlockDaemon.Qmp.Server;

namespace BlockDaemon.Qmp.Commands;

/// <summary>query-block-jobs and the block-job-* verbs: jobs found by their id ("device"), block jobs only.</summary>
public static class BlockJobCommands
{
    internal static void Register(CommandRegistry registry)
    {
        registry.Add("query-block-jobs", QueryBlockJobs);
        registry.Add("block-job-set-speed", (c, a) => Sync(() => Find(c, a, "device").SetSpeed(a["speed"]!.GetValue<long>())));
        registry.Add("block-job-pause", (c, a) => Sync(() => Find(c, a, "device").Job.UserPause()));
        registry.Add("block-job-resume", (c, a) => Sync(() => Find(c, a, "device").Job.UserResume()));
        registry.Add("block-job-cancel", async (c, a) =>
        {
            var job = Find(c, a, "device").Job;
            job.HoldCompletionUntil(c.ReplySent());
            await job.UserCancelAsync(a["force"]?.GetValue<bool>() ?? false).ConfigureAwait(false);
            return null;
        });
        registry.Add("block-job-complete", async (c, a) =>
        {
            var job = Find(c, a, "device").Job;
            job.HoldCompletionUntil(c.ReplySent());
            await job.CompleteAsync().ConfigureAwait(false);
            return null;
        });
        registry.Add("block-job-finalize", async (c, a) =>
        {
            await Find(c, a, "id").Job.FinalizeAsync().ConfigureAwait(false);
            return null;
        });
        registry.Add("block-job-dismiss", (c, a) => Sync(() => Find(c, a, "id").Job.Dismiss()));
    }

    /// <summary>The events sink block jobs created by a command report to.</summary>
    internal static IBlockJobEvents EventsFor(CommandContext context) => new BlockJobEventForwarder(context.Events);

    /// <summary>QEMU's job flags from auto-finalize / auto-dismiss.</summary>
    internal static JobFlags Flags(JsonObject arguments) =>
        (arguments["auto-finalize"]?.GetValue<bool>() == false ? JobFlags.ManualFinalize : JobFlags.None)
        | (arguments["auto-dismiss"]?.GetValue<bool>() == false ? JobFlags.ManualDismiss : JobFlags.None);

    /// <summary>
    /// block_job_create and job_start for a block job: CREATED, the speed and the driver's own set-up
    /// (a failure there sends the job straight to NULL, as qsd's job_early_fail), then RUNNING.
    /// </summary>
    internal static async ValueTask StartAsync(CommandContext context, string jobId, BlockJob driver, JsonObject arguments, Action acquire)
    {
        var job = context.Jobs.Create(jobId, driver, Flags(arguments));
        driver.Attach(job);
        try
        {
            driver.SetSpeed(arguments["speed"]?.GetValue<long>() ?? 0);
            acquire();
        }
        catch
        {
            await driver.CleanAsync(job).ConfigureAwait(false);
            job.EarlyFail();
            throw;
        }
        await context.Jobs.StartAsync(job, context.ReplySent()).ConfigureAwait(false);
    }

    /// <summary>
    /// A job filter's filter-node-name, checked as opening the node would (form, in use, length),
    /// with <paramref name="prefix"/> before the text where qsd adds one.
    /// </summary>
    internal static void CheckFilterName(CommandContext context, string? name, string prefix)
    {
        if (name is null)
        {
            return;
        }
        try
        {
            context.Graph.CheckNewNodeName(name);
        }
        catch (BlockException e)
        {
            throw QmpException.Generic(prefix + e.Message);
        }
    }

    /// <summary>
    /// <see cref="StartAsync(CommandContext, string, BlockJob, JsonObject, Action)"/> with a set-up
    /// step that awaits (a job that inserts a filter node after it was created, as commit does).
    /// </summary>
    internal static async ValueTask StartAsync(CommandContext context, string jobId, BlockJob driver, JsonObject arguments, Func<ValueTask> acquire)
    {
        var job = context.Jobs.Create(jobId, driver, Flags(arguments));
        driver.Attach(job);
        try
        {
            driver.SetSpeed(arguments["speed"]?.GetValue<long>() ?? 0);
            await acquire().ConfigureAwait(false);
        }
        catch
        {
            await driver.CleanAsync(job).ConfigureAwait(false);
            job.EarlyFail();
            throw;
        }
        await context.Jobs.StartAsync(job, context.ReplySent()).ConfigureAwait(false);
    }

    /// <summary>bdrv_lookup_bs(device, device): a node name (a storage daemon has no devices).</summary>
    internal static BlockNode FindDevice(CommandContext context, string device) =>
        context.Graph.FindNode(device) ?? throw QmpException.Generic($"Cannot find device='{device}' nor node-name='{device}'");

    /// <summary>bdrv_lookup_bs(NULL, name).</summary>
    internal static BlockNode FindNodeOnly(CommandContext context, string name) =>
        context.Graph.FindNode(name) ?? throw QmpException.Generic($"Cannot find device='' nor node-name='{name}'");

    private static BlockJob Find(CommandContext context, JsonObject arguments, string member)
    {
        string id = arguments[member]!.GetValue<string>();
        return context.Jobs.Find(id)?.Driver as BlockJob
            ?? throw new QmpException(QmpErrorClass.DeviceNotActive, $"Block job '{id}' not found");
    }

    private static Task<JsonNode?> Sync(Action verb)
    {
        verb();
        return Task.FromResult<JsonNode?>(null);
    }

    private static Task<JsonNode?> QueryBlockJobs(CommandContext context, JsonObject arguments)
    {
        var list = new JsonArray();
        foreach (var job in context.Jobs.Jobs)
        {
            if (job.Id is null || job.Driver is not BlockJob blockJob)
            {
                continue;
            }
            var info = new JsonObject
            {
                ["type"] = job.Type.ToQapi(),
                ["device"] = job.Id,
                ["len"] = job.Progress.Total,
                ["offset"] = job.Progress.Current,
                ["busy"] = job.Busy,
                ["paused"] = job.PauseCount > 0,
                ["speed"] = job.Speed,
                ["io-status"] = blockJob.IoStatus.ToQapi(),
                ["ready"] = job.IsReady,
                ["status"] = job.Status.ToQapi(),
                ["auto-finalize"] = job.AutoFinalize,
                ["auto-dismiss"] = job.AutoDismiss,
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
