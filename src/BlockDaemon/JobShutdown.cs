using BlockDaemon.Core.Jobs;
using BlockDaemon.Qmp.Server;
using Microsoft.Extensions.Logging;

namespace BlockDaemon;

/// <summary>
/// Shutdown of running jobs, as qsd's job_cancel_sync_all: every job is cancelled (forced) and
/// allowed to finish its abort path (in-flight I/O done, edges and blockers released) before the
/// graph closes. Waiting happens off the control loop, since each job concludes through it.
/// </summary>
internal static class JobShutdown
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    public static async Task CancelAllAsync(ControlLoop loop, JobManager jobs, ILogger logger)
    {
        await loop.InvokeAsync(async () =>
        {
            foreach (var job in jobs.Jobs.ToArray())
            {
                if (!job.IsCompleted)
                {
                    await job.CancelAsync(force: true).ConfigureAwait(false);
                }
            }
            return true;
        }).ConfigureAwait(false);
        var deadline = DateTime.UtcNow + Limit;
        while (await loop.InvokeAsync(() => Task.FromResult(jobs.Jobs.Any(j => !j.IsCompleted || j.Status == JobStatus.Aborting))).ConfigureAwait(false))
        {
            if (DateTime.UtcNow > deadline)
            {
                logger.LogWarning("Some jobs did not finish cancelling in time");
                return;
            }
            await Task.Delay(20).ConfigureAwait(false);
        }
    }
}
