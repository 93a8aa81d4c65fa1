using System.Text.Json.Nodes;
using BlockDaemon.Ctl.Cli;
using BlockDaemon.Ctl.Qmp;

namespace BlockDaemon.Ctl.Jobs;

/// <summary>
/// Follows one job to its end. Events are the authority on what happened (the client queues
/// every event from the moment it connected, so none is missed even when the job ends before
/// the command that started it is answered); query-jobs is polled for progress and to learn the
/// state of a job blockctl did not start. READY triggers the caller's <see cref="ReadyAction"/>.
/// </summary>
public sealed class JobWaiter
{
    private readonly QmpClient _client;
    private readonly string _jobId;
    private readonly JobWaitOptions _options;
    private readonly CtlConsole _console;
    private readonly ProgressBar? _progress;

    private string _status = "unknown";
    private long _current;
    private long _total;
    private string? _error;
    private bool _cancelledEvent;
    private bool _sawAborting;
    private bool _ended;
    private bool _seen;
    private bool _readyHandled;
    private bool _pivoted;
    private bool _cancelSent;

    public JobWaiter(QmpClient client, string jobId, JobWaitOptions options, CtlConsole console)
    {
        _client = client;
        _jobId = jobId;
        _options = options;
        _console = console;
        _progress = options.Verbose ? new ProgressBar(console.Error, options.Label, console.ErrorIsTerminal) : null;
    }

    /// <param name="mustExist">Fail when query-jobs does not list the job at once (waiting for a job blockctl did not start).</param>
    /// <param name="interrupt">Ctrl-C.</param>
    /// <param name="ct">Ends the wait abruptly (the connection is going away).</param>
    public async Task<JobOutcome> WaitAsync(bool mustExist, CancellationToken interrupt, CancellationToken ct)
    {
        var deadline = _options.Timeout is TimeSpan timeout ? DateTime.UtcNow + timeout : (DateTime?)null;
        bool first = true;
        try
        {
            while (true)
            {
                DrainEvents();
                if (!_ended)
                {
                    await PollAsync(ct).ConfigureAwait(false);
                    if (first && !_seen && !_ended && mustExist)
                    {
                        throw new QmpCommandException("query-jobs", "GenericError", $"No job with id '{_jobId}'", []);
                    }
                    first = false;
                }
                if (_ended)
                {
                    return Finish();
                }
                if (_status == "ready" && !_readyHandled)
                {
                    _readyHandled = true;
                    switch (_options.OnReady)
                    {
                        case ReadyAction.LeaveRunning:
                            return Outcome(JobOutcomeKind.ReadyLeftRunning);
                        case ReadyAction.Pivot:
                            await _client.ExecuteAsync("job-complete", new JsonObject { ["id"] = _jobId }, ct).ConfigureAwait(false);
                            _pivoted = true;
                            break;
                        case ReadyAction.FinishWithoutPivot:
                            await _client.ExecuteAsync("block-job-cancel", new JsonObject { ["device"] = _jobId }, ct).ConfigureAwait(false);
                            break;
                    }
                }

                if (interrupt.IsCancellationRequested && !_cancelSent)
                {
                    if (!_options.AbortOnInterrupt)
                    {
                        return Outcome(JobOutcomeKind.InterruptedLeftRunning);
                    }
                    _cancelSent = true;
                    _progress?.Finish();
                    await _console.Error.WriteLineAsync($"blockctl: interrupted; cancelling job '{_jobId}'").ConfigureAwait(false);
                    await _client.ExecuteAsync("job-cancel", new JsonObject { ["id"] = _jobId }, ct).ConfigureAwait(false);
                }
                if (deadline is DateTime d && DateTime.UtcNow >= d && !_cancelSent)
                {
                    return Outcome(JobOutcomeKind.TimedOut);
                }

                await NextWakeupAsync(deadline, _cancelSent ? CancellationToken.None : interrupt, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            _progress?.Finish();
        }
    }

    private async Task NextWakeupAsync(DateTime? deadline, CancellationToken interrupt, CancellationToken ct)
    {
        var delay = _options.PollInterval;
        if (deadline is DateTime d)
        {
            var left = d - DateTime.UtcNow;
            delay = left < delay ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : delay;
        }
        using var wake = CancellationTokenSource.CreateLinkedTokenSource(ct, interrupt);
        wake.CancelAfter(delay);
        try
        {
            await _client.Events.WaitToReadAsync(wake.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // Poll time, deadline or Ctrl-C: the loop looks at which.
        }
        // The connection ended: query-jobs will say so with a connection error.
    }

    private void DrainEvents()
    {
        while (_client.Events.TryRead(out var e))
        {
            Apply(e);
        }
    }

    private void Apply(QmpEvent e)
    {
        string? subject = e.Name == "JOB_STATUS_CHANGE" ? e.DataString("id") : e.DataString("device");
        if (subject != _jobId)
        {
            return;
        }
        _seen = true;
        switch (e.Name)
        {
            case "JOB_STATUS_CHANGE":
                _status = e.DataString("status") ?? _status;
                _sawAborting |= _status == "aborting";
                // A concluded job's error is only in query-jobs; the poll after this reads it.
                _ended |= _status == "null";
                break;
            case "BLOCK_JOB_READY":
                _status = _status == "running" ? "ready" : _status;
                UpdateProgress(e.Data);
                break;
            case "BLOCK_JOB_COMPLETED":
                UpdateProgress(e.Data);
                _error ??= e.DataString("error");
                break;
            case "BLOCK_JOB_CANCELLED":
                UpdateProgress(e.Data);
                _cancelledEvent = true;
                break;
            case "BLOCK_JOB_ERROR":
                _progress?.Finish();
                _console.Error.WriteLine($"blockctl: job '{_jobId}': I/O error on {e.DataString("operation") ?? "an operation"}, action {e.DataString("action") ?? "unknown"}");
                break;
        }
    }

    private async Task PollAsync(CancellationToken ct)
    {
        var jobs = await _client.ExecuteAsync("query-jobs", null, ct).ConfigureAwait(false) as JsonArray ?? [];
        var job = jobs.OfType<JsonObject>().FirstOrDefault(j => j["id"] is JsonValue v && v.TryGetValue(out string? id) && id == _jobId);
        if (job is null)
        {
            // Gone: events queued before the reply to query-jobs hold its end, if it ended since we connected.
            DrainEvents();
            if (_seen)
            {
                _ended = true;
            }
            return;
        }
        _seen = true;
        string? status = job["status"] is JsonValue s && s.TryGetValue(out string? text) ? text : null;
        if (status is not null && !_ended)
        {
            _status = status;
        }
        if (job["current-progress"] is JsonValue c && c.TryGetValue(out long current) && job["total-progress"] is JsonValue t && t.TryGetValue(out long total))
        {
            _current = current;
            _total = total;
            _progress?.Update(current, total);
        }
        if (status == "concluded")
        {
            _error ??= job["error"] is JsonValue e && e.TryGetValue(out string? error) ? error : null;
            _ended = true;
            if (_options.Dismiss)
            {
                await _client.ExecuteAsync("job-dismiss", new JsonObject { ["id"] = _jobId }, ct).ConfigureAwait(false);
            }
        }
    }

    private void UpdateProgress(JsonObject data)
    {
        if (data["offset"] is JsonValue o && o.TryGetValue(out long offset) && data["len"] is JsonValue l && l.TryGetValue(out long len))
        {
            _current = offset;
            _total = len;
            _progress?.Update(offset, len);
        }
    }

    private JobOutcome Finish()
    {
        if (_cancelSent)
        {
            return Outcome(JobOutcomeKind.InterruptedCancelled);
        }
        if (_cancelledEvent || (_sawAborting && _error is null))
        {
            return Outcome(JobOutcomeKind.Cancelled);
        }
        return Outcome(_error is null ? JobOutcomeKind.Completed : JobOutcomeKind.Failed);
    }

    private JobOutcome Outcome(JobOutcomeKind kind) => new(kind, _error, _status, _current, _total, _pivoted);
}
