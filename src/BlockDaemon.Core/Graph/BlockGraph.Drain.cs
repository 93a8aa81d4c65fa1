using BlockDaemon.Core.Jobs;

namespace BlockDaemon.Core.Graph;

// Drained sections that involve jobs (QEMU's bdrv_drained_begin/end with child_job parents).
// Draining a node drains its parents first, up to the roots, through every kind of edge; a job
// holding any of those nodes is paused and waited for until quiescent, and only then are the
// node's requests held. So a job's own requests are never held by a drain that waits for it
// (QEMU gets the same from job BlockBackends that disable request queuing): once the job is
// quiescent it sends nothing until the drain resumes it. Control loop only.
public sealed partial class BlockGraph
{
    /// <summary>
    /// Begins a drained section of <paramref name="node"/>: pauses the jobs that use it or a node
    /// above it (PAUSED/STANDBY events now), waits until they are quiescent, then for the node's
    /// requests in flight; new requests wait until <see cref="DrainedSection.End"/>.
    /// </summary>
    public async ValueTask<DrainedSection> DrainedBeginAsync(BlockNode node, CancellationToken ct = default)
    {
        var jobs = await PauseJobsAsync(JobsAbove(node)).ConfigureAwait(false);
        try
        {
            await node.Requests.DrainAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            ResumeJobs(jobs);
            throw;
        }
        return new DrainedSection(node, jobs);
    }

    /// <summary>
    /// The job half of <see cref="DrainedBeginAsync"/>: the jobs above <paramref name="node"/>
    /// pause until <see cref="DrainedSection.End"/>, its requests are not held. Where qsd drains
    /// a node that blockd's own steps (a filter's insertion) drain only later, if at all.
    /// </summary>
    public async ValueTask<DrainedSection> DrainedBeginJobsAsync(BlockNode node) =>
        new DrainedSection(null, await PauseJobsAsync(JobsAbove(node)).ConfigureAwait(false));

    /// <summary>
    /// Pauses the jobs above <paramref name="node"/> but <paramref name="except"/> at once,
    /// without waiting for them (a sleeping job is PAUSED now, a busy one at its next pause
    /// point): for a job's own drain of its node, which must not wait for that job (mirror's
    /// in_drain) and is made from a verb that cannot wait.
    /// </summary>
    public DrainedSection PauseJobsAbove(BlockNode node, Job? except)
    {
        var jobs = JobsAbove(node);
        if (except is not null)
        {
            jobs.Remove(except);
        }
        foreach (var job in jobs)
        {
            job.DrainBegin();
        }
        return new DrainedSection(null, jobs);
    }

    /// <summary>
    /// A drained section of <paramref name="node"/> that ends at once, <paramref name="times"/>
    /// times, for its effect on jobs only (a pause and a resume each): where qsd drains a node
    /// briefly while it attaches or detaches a parent, which blockd does without holding I/O.
    /// </summary>
    public async ValueTask DrainJobsAsync(BlockNode node, int times = 1)
    {
        for (int i = 0; i < times; i++)
        {
            var jobs = JobsAbove(node);
            if (jobs.Count == 0)
            {
                return;
            }
            ResumeJobs(await PauseJobsAsync(jobs).ConfigureAwait(false));
        }
    }

    /// <summary>
    /// bdrv_drain_all as a transaction begins with it: every job that holds a node is paused,
    /// waited for and resumed.
    /// </summary>
    public async ValueTask DrainAllJobsAsync()
    {
        var jobs = new List<Job>();
        foreach (var user in _users)
        {
            if (user.Job is { } job && !jobs.Contains(job))
            {
                jobs.Add(job);
            }
        }
        if (jobs.Count > 0)
        {
            ResumeJobs(await PauseJobsAsync(jobs).ConfigureAwait(false));
        }
    }

    /// <summary>The jobs holding <paramref name="node"/> or any node above it, nearest first (newest parent first, as QEMU visits them).</summary>
    public static List<Job> JobsAbove(BlockNode node)
    {
        var jobs = new List<Job>();
        var seen = new HashSet<BlockNode> { node };
        var pending = new Queue<BlockNode>();
        pending.Enqueue(node);
        while (pending.TryDequeue(out var current))
        {
            foreach (var edge in current.Parents)
            {
                switch (edge.Parent)
                {
                    case BlockNode parent when seen.Add(parent):
                        pending.Enqueue(parent);
                        break;
                    case BlockUser { Job: { } job } when !jobs.Contains(job):
                        jobs.Add(job);
                        break;
                }
            }
        }
        return jobs;
    }

    /// <summary>The jobs above <paramref name="node"/> or any node below it (a subtree drain).</summary>
    public static List<Job> JobsAboveSubtree(BlockNode node)
    {
        var jobs = new List<Job>();
        var seen = new HashSet<BlockNode>();
        var pending = new Stack<BlockNode>([node]);
        while (pending.TryPop(out var current))
        {
            if (!seen.Add(current))
            {
                continue;
            }
            foreach (var job in JobsAbove(current))
            {
                if (!jobs.Contains(job))
                {
                    jobs.Add(job);
                }
            }
            foreach (var edge in current.Children)
            {
                pending.Push(edge.Node);
            }
        }
        return jobs;
    }

    private static async ValueTask<List<Job>> PauseJobsAsync(List<Job> jobs)
    {
        foreach (var job in jobs)
        {
            job.DrainBegin();
        }
        foreach (var job in jobs)
        {
            await job.WaitQuiescentAsync().ConfigureAwait(false);
        }
        return jobs;
    }

    internal static void ResumeJobs(List<Job> jobs)
    {
        foreach (var job in jobs)
        {
            job.DrainEnd();
        }
    }
}

/// <summary>A drained section begun by <see cref="BlockGraph.DrainedBeginAsync"/>; <see cref="End"/> ends it once.</summary>
public sealed class DrainedSection
{
    private readonly List<Job> _jobs;
    private bool _ended;

    internal DrainedSection(BlockNode? node, List<Job> jobs)
    {
        Node = node;
        _jobs = jobs;
    }

    /// <summary>The node whose requests are held; null for a section that only pauses jobs.</summary>
    public BlockNode? Node { get; }

    /// <summary>Waits (on the loop) until the section's jobs are quiescent; for sections begun without waiting.</summary>
    public async ValueTask WaitQuiescentAsync()
    {
        foreach (var job in _jobs)
        {
            await job.WaitQuiescentAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Lets the node's requests go, then resumes the jobs (RUNNING/READY events now), as bdrv_drained_end.</summary>
    public void End()
    {
        if (_ended)
        {
            return;
        }
        _ended = true;
        Node?.Requests.EndDrain();
        BlockGraph.ResumeJobs(_jobs);
    }
}
