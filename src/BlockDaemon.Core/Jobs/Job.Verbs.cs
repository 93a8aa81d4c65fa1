using BlockDaemon.Core.Errors;

namespace BlockDaemon.Core.Jobs;

/// <summary>The user's verbs (job-pause, job-resume, ...), in the order of checks of QEMU's job.c.</summary>
public sealed partial class Job
{
    /// <summary>job_user_pause.</summary>
    public void UserPause()
    {
        ApplyVerb(JobVerb.Pause);
        if (UserPaused)
        {
            throw BlockException.Invalid("Job is already paused");
        }
        UserPaused = true;
        Pause();
        PauseSleeper();
    }

    /// <summary>job_user_resume: whether it was paused is checked before the verb, as QEMU does.</summary>
    public void UserResume()
    {
        if (!UserPaused || PauseCount <= 0)
        {
            throw BlockException.Invalid("Can't resume a job that was not paused");
        }
        ApplyVerb(JobVerb.Resume);
        Driver.UserResume(this);
        UserPaused = false;
        Resume();
    }

    /// <summary>job_pause: one more reason to pause; the job stops at its next pause point.</summary>
    public void Pause() => Interlocked.Increment(ref _pauseCount);

    /// <summary>job_resume: one reason less; the last one wakes a paused job.</summary>
    public void Resume()
    {
        if (Interlocked.Decrement(ref _pauseCount) == 0)
        {
            Enter();
        }
    }

    /// <summary>job_user_cancel (job-cancel passes force).</summary>
    public async ValueTask UserCancelAsync(bool force)
    {
        ApplyVerb(JobVerb.Cancel);
        await CancelAsync(force).ConfigureAwait(false);
        await Driver.AfterVerbAsync(this).ConfigureAwait(false);
    }

    /// <summary>job_cancel.</summary>
    public async ValueTask CancelAsync(bool force)
    {
        if (Status == JobStatus.Concluded)
        {
            DoDismiss();
            return;
        }
        // Read before the cancel: cancelling may run the job's last steps inline and make it busy.
        // A READY job (qsd: mirror) is not idle in this sense: it finishes after the reply.
        bool idle = Started && !Busy && !DeferredToMainLoop && !IsReady && Driver.CancelsInline;
        RequestCancel(force);
        if (!Started)
        {
            await CompletedAsync().ConfigureAwait(false);
        }
        else if (DeferredToMainLoop)
        {
            // A soft cancel of a job whose work is over is ignored; a forced one aborts it.
            if (IsCancelled)
            {
                await AbortTransactionAsync().ConfigureAwait(false);
            }
        }
        else
        {
            // A job idle in a sleep or a pause ends as soon as it is woken: like qsd, finish it
            // inside the command, so its events precede the reply. A job that turns out to need
            // the loop first (rare) is given up on after a moment and finishes after the reply.
            Enter();
            if (idle && IsCancelled && Work is { } work)
            {
                try
                {
                    await work.WaitAsync(IdleCancelWait).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    return;
                }
                if (ClaimCompletion())
                {
                    RecordRunResult(await work.ConfigureAwait(false));
                    await CompletedAsync().ConfigureAwait(false);
                }
            }
        }
    }

    private static readonly TimeSpan IdleCancelWait = TimeSpan.FromSeconds(2);

    // job_cancel_async.
    private void RequestCancel(bool force)
    {
        force = Driver.Cancel(this, force);
        if (UserPaused)
        {
            Driver.UserResume(this);
            UserPaused = false;
            Interlocked.Decrement(ref _pauseCount);
        }
        if (!DeferredToMainLoop || force)
        {
            CancelRequested = true;
            IsCancelled |= force;
            if (IsCancelled)
            {
                _cancel.Cancel();
            }
        }
    }

    /// <summary>job_complete.</summary>
    public void Complete()
    {
        ApplyVerb(JobVerb.Complete);
        if (CancelRequested || !Driver.CanComplete)
        {
            throw new BlockException(BlockErrorKind.NotSupported, $"The active block job '{Id}' cannot be completed");
        }
        Driver.Complete(this);
    }

    /// <summary>job_complete, then what the driver finishes inside the command (see <see cref="JobDriver.AfterVerbAsync"/>).</summary>
    public async ValueTask CompleteAsync()
    {
        Complete();
        await Driver.AfterVerbAsync(this).ConfigureAwait(false);
    }

    /// <summary>job_finalize.</summary>
    public ValueTask FinalizeAsync()
    {
        ApplyVerb(JobVerb.Finalize);
        // In a grouped transaction job-finalize of one job finalizes the whole group.
        return Transaction is { } transaction ? transaction.FinalizeAllAsync() : DoFinalizeAsync();
    }

    /// <summary>job_dismiss.</summary>
    public void Dismiss()
    {
        ApplyVerb(JobVerb.Dismiss);
        DoDismiss();
    }
}
