using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

// Whole-cluster allocating writes (a job copying into a fresh image, a guest filling one) take
// their clusters under the metadata lock, write the data without it and map the clusters under
// it again, as QEMU's qcow2 drops s->lock around the data write. Holding the lock through the
// write allowed one such write in flight per image, however many the caller sent.
//
// While the data is in flight nothing on disk or in a table points at the new clusters: a crash
// leaks them at worst, and the data is complete before the L2 entry naming it exists, so the
// flush order of FlushMetadataAsync still holds. A request that changes the same guest clusters
// meanwhile is concurrent with this one (either result is allowed); the mapping step re-reads the
// entry so that whatever it replaces is released, not leaked. Operations that rework the whole
// mapping (snapshots, resize, amend, make-empty) wait until no such write is in flight.
public sealed partial class Qcow2Driver
{
    // Both guarded by _lock.
    private int _unlockedWrites;
    private TaskCompletionSource? _unlockedWritesIdle;

    /// <summary>Takes the metadata lock with no unlocked allocating write in flight.</summary>
    private async ValueTask AcquireExclusiveAsync(CancellationToken ct)
    {
        while (true)
        {
            await _lock.WaitAsync(ct).ConfigureAwait(false);
            if (_unlockedWrites == 0)
            {
                return;
            }
            var idle = _unlockedWritesIdle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _lock.Release();
            await idle.Task.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Under the lock: for a cluster-aligned write none of whose clusters can be written in place
    /// or reused, allocates one host run for it and returns its first cluster; null when the write
    /// must take the locked path (partial clusters, reusable clusters, external data file).
    /// </summary>
    private async ValueTask<long?> BeginUnlockedAllocationAsync(long offset, int length, CancellationToken ct)
    {
        long mask = _clusterSize - 1;
        if (HasDataFile || length == 0 || (offset & mask) != 0 || (length & mask) != 0)
        {
            return null;
        }
        long first = offset >> _clusterBits;
        long count = (long)length >> _clusterBits;
        for (long c = first; c < first + count; c++)
        {
            var (entry, bitmap) = await _map.LookupAsync(c, ct).ConfigureAwait(false);
            if (ReusableHost(entry, bitmap) is not null)
            {
                return null;
            }
        }
        long start = await AllocateDataAsync(first, (int)count, ct).ConfigureAwait(false);
        await GrowFileForAllocationsAsync(ct).ConfigureAwait(false);
        // Marked as written now: if the write fails half-way, the clusters' next user must fill them.
        _refcounts.MarkUsed(start, count);
        _unlockedWrites++;
        return start;
    }

    /// <summary>Outside the lock: writes the data to the clusters taken by <see cref="BeginUnlockedAllocationAsync"/>, then maps them.</summary>
    private async ValueTask FinishUnlockedAllocationAsync(long hostCluster, long offset, ReadOnlyMemory<byte> data, WriteFlags dataFlags, CancellationToken ct)
    {
        long first = offset >> _clusterBits;
        int count = data.Length >> _clusterBits;
        var hosts = new long[count];
        var allocated = new bool[count];
        for (int i = 0; i < count; i++)
        {
            hosts[i] = (hostCluster + i) << _clusterBits;
            allocated[i] = true;
        }
        try
        {
            _file.RaiseDebugEvent(DebugEvent.WriteAio);
            await _data.WriteAsync(hostCluster << _clusterBits, data, dataFlags, ct).ConfigureAwait(false);
        }
        catch
        {
            // Giving the clusters back cannot be skipped: no cancellation from here.
            await _lock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                await ReleaseUnmappedAsync(hosts, allocated, 0).ConfigureAwait(false);
            }
            finally
            {
                EndUnlockedWrite();
            }
            throw;
        }
        await _lock.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        int mapped = 0;
        try
        {
            BeginOperation();
            for (; mapped < count; mapped++)
            {
                // Re-read: a concurrent request may have mapped the cluster meanwhile.
                var (current, _) = await _map.LookupAsync(first + mapped, CancellationToken.None).ConfigureAwait(false);
                await SetMappingAsync(first + mapped, current, (ulong)hosts[mapped] | TableEntries.Copied,
                    _map.ExtendedL2 ? TableEntries.MakeBitmap(AllSubclusters, 0) : 0, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch
        {
            await ReleaseUnmappedAsync(hosts, allocated, mapped).ConfigureAwait(false);
            throw;
        }
        finally
        {
            EndUnlockedWrite();
        }
    }

    // Under the lock, which it releases.
    private void EndUnlockedWrite()
    {
        if (--_unlockedWrites == 0 && _unlockedWritesIdle is { } idle)
        {
            _unlockedWritesIdle = null;
            idle.TrySetResult();
        }
        _lock.Release();
    }
}
