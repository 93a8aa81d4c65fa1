using BlockDaemon.Core.Drivers.MirrorTop;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Jobs;

namespace BlockDaemon.Jobs.Copy;

/// <summary>
/// copy-mode=write-blocking (qsd's active mirror): a guest write through the mirror_top filter
/// goes to the source, then, where the target already holds that area (its granules are clean),
/// to the target as well before the guest sees it complete. Granules still dirty stay dirty: the
/// job's copy of them reads the new data. So guest writes never add work once an area is
/// copied, and the job converges however fast the guest writes. As in qsd, what a guest write
/// sends to the target counts in the job's length and progress, byte for byte.
/// </summary>
internal sealed class ActiveWrites(DirtyTracker dirty, BlockChild target, RangeLocks ranges, Func<JobProgress> progress) : IMirrorTopWrites
{
    public async ValueTask WriteAsync(BlockChild source, long offset, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        var held = await ranges.AcquireWriteAsync(AlignDown(offset), AlignUp(offset + data.Length), ct).ConfigureAwait(false);
        if (held is null)
        {
            // The job is copying this area: the write marks it (tracked as in background mode).
            await source.WriteAsync(offset, data, flags, ct).ConfigureAwait(false);
            return;
        }
        try
        {
            dirty.Suppressed.Value = true;
            await WriteSourceAsync(source.WriteAsync(offset, data, flags, ct), offset, data.Length).ConfigureAwait(false);
            dirty.Suppressed.Value = false;
            foreach (var (start, length) in dirty.CleanRanges(offset, data.Length))
            {
                await WriteTargetAsync(() => target.WriteAsync(start, data.Slice((int)(start - offset), (int)length), flags, ct), start, length).ConfigureAwait(false);
            }
        }
        finally
        {
            ranges.Release(held);
        }
    }

    public async ValueTask WriteZeroesAsync(BlockChild source, long offset, long length, WriteFlags flags, CancellationToken ct)
    {
        var held = await ranges.AcquireWriteAsync(AlignDown(offset), AlignUp(offset + length), ct).ConfigureAwait(false);
        if (held is null)
        {
            await source.WriteZeroesAsync(offset, length, flags, ct).ConfigureAwait(false);
            return;
        }
        try
        {
            dirty.Suppressed.Value = true;
            await WriteSourceAsync(source.WriteZeroesAsync(offset, length, flags, ct), offset, length).ConfigureAwait(false);
            dirty.Suppressed.Value = false;
            foreach (var (start, run) in dirty.CleanRanges(offset, length))
            {
                await WriteTargetAsync(() => target.WriteZeroesAsync(start, run, flags, ct), start, run).ConfigureAwait(false);
            }
        }
        finally
        {
            ranges.Release(held);
        }
    }

    // What a discarded range reads afterwards is the source driver's business: the tracker marks
    // it (the write is not suppressed) and the job copies whatever the source then reads.
    public ValueTask DiscardAsync(BlockChild source, long offset, long length, CancellationToken ct) =>
        source.DiscardAsync(offset, length, ct);

    // The tracker must not mark what this write puts on the source (the caller set Suppressed,
    // which flows into the source's write and, being an AsyncLocal set inside an async method,
    // goes with it when the method returns): whether the target needs it is decided here. Should
    // the source write fail part way, the area is owed to the target.
    private async ValueTask WriteSourceAsync(ValueTask write, long offset, long length)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch
        {
            dirty.Written(offset, length);
            throw;
        }
    }

    // A failed target write does not fail the guest's write (it reached the source): the area is
    // dirty again, so the job copies it and meets the error under its on-target-error policy.
    private async ValueTask WriteTargetAsync(Func<ValueTask> write, long offset, long length)
    {
        progress().IncreaseRemaining(length);
        try
        {
            await write().ConfigureAwait(false);
            progress().Update(length);
        }
        catch (BlockException)
        {
            dirty.Written(offset, length);
        }
    }

    private long AlignDown(long offset) => offset / dirty.Granularity * dirty.Granularity;

    private long AlignUp(long offset) => (offset + dirty.Granularity - 1) / dirty.Granularity * dirty.Granularity;
}
