namespace BlockDaemon.Qcow2.Tests.Crash;

internal enum DiskEventKind { Write, Discard, Truncate, Flush }

/// <summary>
/// One request the qcow2 driver sent to its image file, as the disk saw it. A write-zeroes is
/// logged as a write of zero bytes (the disk cannot tell them apart); a discard may or may not
/// take effect, so after a crash its range reads old or zero.
/// </summary>
/// <param name="Index">Position in the log, so failure messages can name it.</param>
/// <param name="Data">The bytes written (Write only).</param>
/// <param name="Length">Bytes written or discarded, or the new file length (Truncate).</param>
internal sealed record DiskEvent(int Index, DiskEventKind Kind, long Offset, long Length, byte[]? Data)
{
    public long End => Offset + Length;

    public override string ToString() => Kind switch
    {
        DiskEventKind.Write => $"#{Index} write {Offset}+{Length}",
        DiskEventKind.Discard => $"#{Index} discard {Offset}+{Length}",
        DiskEventKind.Truncate => $"#{Index} truncate {Length}",
        _ => $"#{Index} flush",
    };
}
