using BlockDaemon.Core.Errors;

namespace BlockDaemon.Core.Jobs;

/// <summary>
/// All jobs of the daemon (QEMU's global job list), newest first as QEMU lists them. Creating,
/// starting and finding jobs run on the control loop.
/// </summary>
public sealed class JobManager(IControlPlane controlPlane)
{
    private readonly List<Job> _jobs = [];

    public IControlPlane ControlPlane { get; } = controlPlane;

    public IJobEventSink Events { get; set; } = NullJobEventSink.Instance;

    /// <summary>Jobs, newest first (QEMU inserts at the head of its list).</summary>
    public IReadOnlyList<Job> Jobs => _jobs;

    /// <summary>job_create: checks the id, then the job exists in CREATED.</summary>
    public Job Create(string? id, JobDriver driver, JobFlags flags)
    {
        CheckNewId(id);
        var job = new Job(this, id!, driver, flags);
        job.MarkCreated();
        _jobs.Insert(0, job);
        return job;
    }

    /// <summary>The id checks of <see cref="Create"/>, for commands that must validate before any side effect.</summary>
    public void CheckNewId(string? id)
    {
        if (id is null)
        {
            throw BlockException.Invalid("An explicit job ID is required");
        }
        if (!IsWellFormedId(id))
        {
            throw BlockException.Invalid($"Invalid job ID '{id}'");
        }
        if (Find(id) is not null)
        {
            throw BlockException.Invalid($"Job ID '{id}' already in use");
        }
    }

    /// <summary>
    /// job_start: RUNNING, then the work begins on this (the control loop's) thread. A job whose
    /// work finishes without suspending completes before this returns, as in qsd, where such a
    /// job concludes before the reply of the command that started it. Otherwise its completion
    /// waits for <paramref name="replySent"/>, so that no event of the job can overtake that reply.
    /// </summary>
    public async ValueTask StartAsync(Job job, Task replySent)
    {
        job.MarkStarted();
        job.StartReplySent = replySent;
        var start = new StartCall(Environment.CurrentManagedThreadId);
        var work = RunAsync(job, start);
        start.Returned = true;
        job.Work = work;
        // Only work that ended inside this call (it never yielded, as a QEMU job coroutine that
        // fails before its first yield) completes inside the command; work that finished on
        // another thread in the meantime reports its end after the reply, like any other.
        if (start.EndedInside && job.ClaimCompletion())
        {
            job.RecordRunResult(await work.ConfigureAwait(false));
            await job.CompletedAsync().ConfigureAwait(false);
            return;
        }
        _ = FinishLaterAsync(job, work, replySent);
    }

    private async Task FinishLaterAsync(Job job, Task<Exception?> work, Task replySent)
    {
        var failure = await work.ConfigureAwait(false);
        await replySent.ConfigureAwait(false);
        if (job.CompletionBarrier is { } barrier)
        {
            await barrier.ConfigureAwait(false);
        }
        ControlPlane.Post(async () =>
        {
            if (!job.ClaimCompletion())
            {
                // A cancel already completed the job inside its command.
                return;
            }
            job.RecordRunResult(failure);
            await job.CompletedAsync().ConfigureAwait(false);
        });
    }

    // The work's outcome as a value: a failed job is an ordinary result, not an exception.
    private static async Task<Exception?> RunAsync(Job job, StartCall start)
    {
        try
        {
            await job.Driver.RunAsync(job, job.CancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
        finally
        {
            start.EndedInside = !start.Returned && Environment.CurrentManagedThreadId == start.ThreadId;
        }
    }

    // Whether a job's work ended synchronously inside StartAsync: the starting thread is still in
    // the call, so an end seen on that thread before the call returned cannot have been deferred.
    private sealed class StartCall(int threadId)
    {
        public int ThreadId { get; } = threadId;

        public volatile bool Returned;

        public volatile bool EndedInside;
    }

    public Job? Find(string id) => _jobs.FirstOrDefault(j => j.Id == id);

    /// <summary>find_job for the job-* commands.</summary>
    public Job Get(string id) => Find(id) ?? throw new BlockException(BlockErrorKind.NotFound, "Job not found");

    internal void Remove(Job job) => _jobs.Remove(job);

    /// <summary>QEMU's id_wellformed: a letter, then letters, digits, '-', '.' and '_'.</summary>
    public static bool IsWellFormedId(string id) =>
        id.Length > 0 && char.IsAsciiLetter(id[0]) && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_');
}
