namespace BlockDaemon.Core.Io;

/// <summary>
/// In-flight requests of one node: lets a graph change drain the node (wait for every request,
/// hold new ones until the drained section ends), and serialises read-modify-write requests
/// against everything that overlaps them, so an unaligned write never loses a neighbour's data.
/// </summary>
public sealed class RequestTracker
{
    // Guards every field below; held only for list updates, never across an await.
    private readonly Lock _lock = new();
    private readonly List<TrackedRequest> _active = [];
    private int _quiesceCounter;
    private TaskCompletionSource? _resumed;
    private TaskCompletionSource? _idle;

    public int InFlight
    {
        get
        {
            lock (_lock)
            {
                return _active.Count;
            }
        }
    }

    /// <summary>Registers a request; waits while the node is drained or an overlapping serialising request runs.</summary>
    public async ValueTask<TrackedRequest> BeginAsync(long offset, long length, bool serialising, CancellationToken ct)
    {
        var request = new TrackedRequest(this, offset, length, serialising);
        while (true)
        {
            Task? waitFor;
            lock (_lock)
            {
                if (_quiesceCounter > 0)
                {
                    _resumed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    waitFor = _resumed.Task;
                }
                else
                {
                    waitFor = FindConflict(request);
                    if (waitFor is null)
                    {
                        _active.Add(request);
                        return request;
                    }
                }
            }
            await waitFor.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Begins a drained section: returns once no request is in flight; new ones wait.</summary>
    public async ValueTask DrainAsync(CancellationToken ct = default)
    {
        Task? idle = null;
        lock (_lock)
        {
            _quiesceCounter++;
            if (_active.Count > 0)
            {
                _idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                idle = _idle.Task;
            }
        }
        if (idle is not null)
        {
            try
            {
                await idle.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                EndDrain();
                throw;
            }
        }
    }

    /// <summary>Ends a drained section begun by <see cref="DrainAsync"/>.</summary>
    public void EndDrain()
    {
        TaskCompletionSource? resumed = null;
        lock (_lock)
        {
            if (_quiesceCounter == 0)
            {
                throw new InvalidOperationException("EndDrain without DrainAsync");
            }
            if (--_quiesceCounter == 0)
            {
                resumed = _resumed;
                _resumed = null;
            }
        }
        resumed?.TrySetResult();
    }

    internal void End(TrackedRequest request)
    {
        TaskCompletionSource? idle = null;
        TaskCompletionSource? completed;
        lock (_lock)
        {
            completed = request.Completed;
            _active.Remove(request);
            if (_active.Count == 0)
            {
                idle = _idle;
                _idle = null;
            }
        }
        idle?.TrySetResult();
        completed?.TrySetResult();
    }

    // A serialising request waits for every overlapping request; any request waits for an
    // overlapping serialising one. Called under _lock.
    private Task? FindConflict(TrackedRequest request)
    {
        foreach (var other in _active)
        {
            if ((request.Serialising || other.Serialising) && request.Overlaps(other))
            {
                // Created only when someone waits: most requests never conflict.
                other.Completed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                return other.Completed.Task;
            }
        }
        return null;
    }
}

/// <summary>One tracked request; disposing it ends it.</summary>
public sealed class TrackedRequest : IDisposable
{
    private readonly RequestTracker _owner;
    private int _ended;

    internal TrackedRequest(RequestTracker owner, long offset, long length, bool serialising)
    {
        _owner = owner;
        Offset = offset;
        Length = length;
        Serialising = serialising;
    }

    public long Offset { get; }
    public long Length { get; }
    public bool Serialising { get; }

    // Signalled when the request ends; null until a conflicting request waits. Guarded by the tracker's lock.
    internal TaskCompletionSource? Completed { get; set; }

    internal bool Overlaps(TrackedRequest other) =>
        Offset < other.Offset + Math.Max(other.Length, 1) && other.Offset < Offset + Math.Max(Length, 1);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            _owner.End(this);
        }
    }
}
