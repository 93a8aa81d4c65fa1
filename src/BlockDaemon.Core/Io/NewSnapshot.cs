namespace BlockDaemon.Core.Io;

/// <summary>
/// What the caller of a snapshot creation decides: the name and the times to record. The
/// format driver picks the id. qsd records the host's real-time clock as the "VM clock"
/// (it has no guest), both at microsecond resolution.
/// </summary>
public sealed record NewSnapshot(string Name, uint DateSeconds, uint DateNanoseconds, ulong VmClockNanoseconds)
{
    /// <summary>The instruction count to record; -1 (none) for qsd, 0 for qemu-img, which zeroes the whole record.</summary>
    public long Icount { get; init; } = -1;

    /// <summary>A snapshot stamped with the current time, as qsd stamps one (gettimeofday, so whole microseconds).</summary>
    public static NewSnapshot Now(string name, TimeProvider clock)
    {
        long microseconds = (clock.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks / 10;
        return new NewSnapshot(name, (uint)(microseconds / 1_000_000), (uint)(microseconds % 1_000_000 * 1000), (ulong)microseconds * 1000);
    }
}
