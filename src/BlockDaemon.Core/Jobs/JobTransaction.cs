namespace BlockDaemon.Core.Jobs;

/// <summary>
/// Jobs that finish together (QEMU's JobTxn, a transaction with completion-mode grouped): none
/// is finalized before all have succeeded, and when one fails or is cancelled the others are
/// cancelled and every job is aborted. Used on the control loop only.
/// </summary>
public sealed class JobTransaction
{
    private readonly List<Job> _jobs = [];

    public IReadOnlyList<Job> Jobs => _jobs;

    /// <summary>One job failed: the group is being aborted.</summary>
    public bool Aborting { get; private set; }

    /// <summary>Adds a job, right after it was created and before it starts.</summary>
    public void Add(Job job)
    {
        _jobs.Add(job);
        job.Transaction = this;
    }

    /// <summary>A job left the group before it started (the transaction was undone).</summary>
    public void Remove(Job job)
    {
        _jobs.Remove(job);
        job.Transaction = null;
    }

    // job_completed_txn_abort: the failed job is finalized first, then every other one is
    // cancelled; those already done (waiting for the group) are aborted at once, running ones
    // when their work returns.
    internal async ValueTask AbortAsync(Job failed)
    {
        if (Aborting)
        {
            await failed.FinalizeInTransactionAsync().ConfigureAwait(false);
            return;
        }
        Aborting = true;
        await failed.FinalizeInTransactionAsync().ConfigureAwait(false);
        foreach (var other in _jobs.ToArray())
        {
            if (other == failed || other.Status is JobStatus.Concluded or JobStatus.Null or JobStatus.Aborting)
            {
                continue;
            }
            if (other.Status is JobStatus.Waiting or JobStatus.Pending)
            {
                other.CancelForTransaction();
                await other.FinalizeInTransactionAsync().ConfigureAwait(false);
            }
            else
            {
                await other.CancelAsync(force: true).ConfigureAwait(false);
            }
        }
    }

    // job_completed_txn_success: the last job to succeed moves them all to PENDING and, when
    // every one finalizes by itself, prepares all of them before committing any.
    internal async ValueTask SucceededAsync(Job job)
    {
        if (Aborting)
        {
            job.CancelForTransaction();
            await job.FinalizeInTransactionAsync().ConfigureAwait(false);
            return;
        }
        if (_jobs.Any(j => j.Status != JobStatus.Waiting))
        {
            return;
        }
        // job_transition_to_pending: each job turns PENDING and, if it waits for job-finalize,
        // says so before the next one turns.
        foreach (var member in InQemuOrder())
        {
            member.Transition(JobStatus.Pending);
            if (!member.AutoFinalize)
            {
                member.Driver.OnPending(member);
            }
        }
        if (_jobs.All(j => j.AutoFinalize))
        {
            await FinalizeAllAsync().ConfigureAwait(false);
        }
    }

    // job_do_finalize on a grouped job (by itself once all are PENDING, or by job-finalize of
    // any one of them): every job is prepared before any is committed, and a failed prepare
    // aborts the whole group.
    internal async ValueTask FinalizeAllAsync()
    {
        foreach (var member in InQemuOrder())
        {
            if (!await member.PrepareInTransactionAsync().ConfigureAwait(false))
            {
                await AbortAsync(member).ConfigureAwait(false);
                return;
            }
        }
        foreach (var member in InQemuOrder())
        {
            await member.FinalizeInTransactionAsync().ConfigureAwait(false);
        }
    }

    // QEMU adds each job at the head of the transaction's list, so everything applied to the
    // whole group (job_txn_apply) reaches the last job added first; the events follow that order.
    private Job[] InQemuOrder()
    {
        var jobs = _jobs.ToArray();
        Array.Reverse(jobs);
        return jobs;
    }
}
