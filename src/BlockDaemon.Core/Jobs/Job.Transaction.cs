namespace BlockDaemon.Core.Jobs;

// A job's part in a grouped transaction (job_completed_txn_* of job.c); JobTransaction decides.
public sealed partial class Job
{
    /// <summary>The group this job finishes with, or null for a job of its own.</summary>
    public JobTransaction? Transaction { get; internal set; }

    private async ValueTask CompletedInTransactionAsync(JobTransaction transaction)
    {
        UpdateResult();
        if (_failed)
        {
            await transaction.AbortAsync(this).ConfigureAwait(false);
        }
        else
        {
            Transition(JobStatus.Waiting);
            await transaction.SucceededAsync(this).ConfigureAwait(false);
        }
    }

    // job_cancel_async(force) on a job whose work is over: it ends as cancelled.
    internal void CancelForTransaction()
    {
        CancelRequested = true;
        IsCancelled = true;
        _failed = true;
        UpdateResult();
    }

    internal async ValueTask<bool> PrepareInTransactionAsync()
    {
        try
        {
            await Driver.PrepareAsync(this).ConfigureAwait(false);
            return true;
        }
        catch (Exception e)
        {
            _failed = true;
            Error = e.Message;
            UpdateResult();
            return false;
        }
    }

    internal ValueTask FinalizeInTransactionAsync() => _finalizing ? ValueTask.CompletedTask : FinalizeSingleAsync();
}
