namespace BlockDaemon.Core.Jobs;

/// <summary>
/// What happens once the work returns (job_exit and the job_completed_* family of job.c):
/// WAITING, PENDING, finalization (prepare, commit or abort, clean), CONCLUDED, and NULL.
/// </summary>
public sealed partial class Job
{
    // strerror(ECANCELED), the error QEMU records for a cancelled job.
    private const string CancelledError = "Operation canceled";

    /// <summary>job_completed: the work returned (or the job was cancelled before it started).</summary>
    internal async ValueTask CompletedAsync()
    {
        if (Transaction is { } transaction)
        {
            await CompletedInTransactionAsync(transaction).ConfigureAwait(false);
            return;
        }
        UpdateResult();
        if (_failed)
        {
            await AbortTransactionAsync().ConfigureAwait(false);
        }
        else
        {
            await SucceedAsync().ConfigureAwait(false);
        }
    }

    // job_update_rc: a cancelled job fails, and a failed job goes to ABORTING.
    private void UpdateResult()
    {
        if (!_failed && IsCancelled)
        {
            _failed = true;
        }
        if (_failed)
        {
            Error ??= CancelledError;
            Transition(JobStatus.Aborting);
        }
    }

    // job_completed_txn_success for a one-job transaction.
    private async ValueTask SucceedAsync()
    {
        Transition(JobStatus.Waiting);
        Transition(JobStatus.Pending);
        if (!AutoFinalize)
        {
            Driver.OnPending(this);
            return;
        }
        await DoFinalizeAsync().ConfigureAwait(false);
    }

    // job_do_finalize: prepare, then commit, or abort when prepare failed.
    private async ValueTask DoFinalizeAsync()
    {
        if (!_failed)
        {
            try
            {
                await Driver.PrepareAsync(this).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _failed = true;
                Error = e.Message;
                UpdateResult();
            }
        }
        if (_failed)
        {
            await AbortTransactionAsync().ConfigureAwait(false);
        }
        else
        {
            await FinalizeSingleAsync().ConfigureAwait(false);
        }
    }

    // job_completed_txn_abort for a one-job transaction: runs once.
    private async ValueTask AbortTransactionAsync()
    {
        if (_finalizing)
        {
            return;
        }
        await FinalizeSingleAsync().ConfigureAwait(false);
    }

    // job_finalize_single.
    private async ValueTask FinalizeSingleAsync()
    {
        _finalizing = true;
        UpdateResult();
        try
        {
            if (_failed)
            {
                await Driver.AbortAsync(this).ConfigureAwait(false);
            }
            else
            {
                await Driver.CommitAsync(this).ConfigureAwait(false);
            }
        }
        finally
        {
            await Driver.CleanAsync(this).ConfigureAwait(false);
        }
        if (Started)
        {
            Driver.OnFinalized(this, IsCancelled);
        }
        Transition(JobStatus.Concluded);
        if (AutoDismiss || !Started)
        {
            DoDismiss();
        }
    }

    // job_do_dismiss.
    private void DoDismiss()
    {
        Busy = false;
        Paused = false;
        DeferredToMainLoop = true;
        Transition(JobStatus.Null);
        _manager.Remove(this);
        Dispose();
    }
}
