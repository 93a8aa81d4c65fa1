using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Drivers.CopyBeforeWrite;

// The point-in-time view a snapshot-access node reads (QEMU's fleecing API of the filter).
// A cluster the guest has overwritten since the filter opened is read from the target, where
// its old data went; any other from the source, and while such a read runs the guest write
// that would overwrite it waits: it copies first, then waits for the reads it would spoil.
public sealed partial class CopyBeforeWriteDriver
{
    private const int EAccess = 13;

    // Guards _done and _access against the read registrations, and the list of those reads.
    private readonly Lock _snapshotLock = new();
    private readonly List<SourceRead> _sourceReads = [];

    private sealed class SourceRead(long start, long end)
    {
        public long Start { get; } = start;
        public long End { get; } = end;
        public TaskCompletionSource Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public async ValueTask ReadSnapshotAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        for (int done = 0; done < buffer.Length;)
        {
            var (run, from, read) = BeginSnapshotRead(offset + done, buffer.Length - done);
            try
            {
                await from.ReadAsync(offset + done, buffer.Slice(done, (int)run), ct).ConfigureAwait(false);
            }
            finally
            {
                EndSnapshotRead(read);
            }
            done += (int)run;
        }
    }

    public async ValueTask<BlockStatus> SnapshotBlockStatusAsync(long offset, long length, CancellationToken ct)
    {
        var (run, from, read) = BeginSnapshotRead(offset, length);
        try
        {
            var status = await from.BlockStatusAsync(offset, run, ct).ConfigureAwait(false);
            // Only copied clusters are read from the target, and they are allocated there.
            return from == _target ? status with { Flags = status.Flags | BlockStatusFlags.Allocated } : status;
        }
        finally
        {
            EndSnapshotRead(read);
        }
    }

    public async ValueTask DiscardSnapshotAsync(long offset, long length, CancellationToken ct)
    {
        // Only whole clusters leave the view; the partial ones at the edges stay readable.
        long cluster = State.ClusterSize;
        long start = (offset + cluster - 1) / cluster * cluster;
        long end = (offset + length) / cluster * cluster;
        if (end <= start)
        {
            return;
        }
        lock (_snapshotLock)
        {
            _access.Reset(start, end - start);
        }
        // Nobody will read these clusters again, so guest writes need not copy them any more.
        State.CopyBitmap.Reset(start, end - start);
        await _target.DiscardAsync(start, end - start, ct).ConfigureAwait(false);
    }

    // cbw_snapshot_read_lock: the longest run from offset that one child answers for, and,
    // when that child is the source, a registration that holds off guest writes over it.
    private (long Run, BlockChild From, SourceRead? Read) BeginSnapshotRead(long offset, long length)
    {
        lock (_snapshotLock)
        {
            var (accessible, reach) = _access.ExtentAt(offset, length);
            if (State.Broken || !accessible || reach < length)
            {
                throw new BlockException(BlockErrorKind.IoError, Errno.Text(EAccess)) { Errno = EAccess };
            }
            var (copied, run) = _done.ExtentAt(offset, length);
            run = Math.Min(run, length);
            if (copied)
            {
                return (run, _target, null);
            }
            var read = new SourceRead(offset, offset + run);
            _sourceReads.Add(read);
            return (run, _file, read);
        }
    }

    private void EndSnapshotRead(SourceRead? read)
    {
        if (read is null)
        {
            return;
        }
        lock (_snapshotLock)
        {
            _sourceReads.Remove(read);
        }
        read.Finished.SetResult();
    }

    // After a guest write's copy: the clusters count as copied (later snapshot reads go to the
    // target), and the write waits for snapshot reads of the source it would overwrite. Reads
    // that register after this point see the clusters copied, so the wait ends.
    private async ValueTask AfterCopyAsync(long offset, long length, bool copied)
    {
        long cluster = State.ClusterSize;
        long start = offset / cluster * cluster;
        long end = Math.Min(Length, offset + length);
        Task[] pending;
        lock (_snapshotLock)
        {
            if (copied && end > start)
            {
                _done.Mark(start, end - start);
            }
            pending = [.. _sourceReads.Where(r => r.Start < end && start < r.End).Select(r => r.Finished.Task)];
        }
        if (pending.Length > 0)
        {
            await Task.WhenAll(pending).ConfigureAwait(false);
        }
    }
}
