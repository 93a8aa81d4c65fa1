namespace BlockDaemon.Jobs.Copy;

/// <summary>
/// A job's speed limit in bytes per second. Bytes are counted as they are dispatched; a caller
/// waits until the bytes already sent are "paid for" at the current speed, so over any run of
/// seconds the rate stays within one chunk of the limit. After an idle spell (a pause, a stretch
/// of skipped ranges) the account restarts instead of granting a burst. The speed may change at
/// any time (block-job-set-speed): like QEMU's ratelimit_set_speed it keeps what was already
/// sent, which is then paid for at the new speed; only a limit set on an unlimited job starts a
/// fresh account, since nothing sent meanwhile was meant to be paid for.
/// </summary>
public sealed class RateLimiter(TimeProvider? time = null)
{
    private static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(100);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _lock = new();
    private long _windowStart;
    private long _dispatched;
    private long _speed;

    /// <summary>Bytes per second; 0 means unlimited.</summary>
    public long Speed
    {
        get => Interlocked.Read(ref _speed);
        set
        {
            lock (_lock)
            {
                if (_speed <= 0)
                {
                    Restart(_time.GetTimestamp());
                }
                _speed = value;
            }
        }
    }

    /// <summary>Counts bytes that were (or are about to be) sent.</summary>
    public void Account(long bytes)
    {
        lock (_lock)
        {
            _dispatched += bytes;
        }
    }

    /// <summary>How long to wait before sending more; zero when allowed now.</summary>
    public TimeSpan Delay()
    {
        lock (_lock)
        {
            if (_speed <= 0)
            {
                return TimeSpan.Zero;
            }
            long now = _time.GetTimestamp();
            var due = TimeSpan.FromSeconds((double)_dispatched / _speed);
            var elapsed = _time.GetElapsedTime(_windowStart, now);
            if (elapsed > due + Slice)
            {
                // Idle for longer than a slice: old credit is not spent as a burst.
                Restart(now);
                return TimeSpan.Zero;
            }
            return due > elapsed ? due - elapsed : TimeSpan.Zero;
        }
    }

    private void Restart(long now)
    {
        _windowStart = now;
        _dispatched = 0;
    }
}
