using BlockDaemon.Qcow2.Engine;

namespace BlockDaemon.Qcow2;

public sealed partial class Qcow2Driver
{
    /// <summary>
    /// qemu-img commit's bdrv_make_empty: every guest cluster becomes unallocated, so the image
    /// reads through to its backing file again. Unlike a discard (which leaves zero clusters in
    /// a version 3 image so that it keeps reading zeroes), this changes what the image reads
    /// unless the backing file holds the same data, which is the caller's business.
    /// </summary>
    public async ValueTask MakeEmptyAsync(CancellationToken ct)
    {
        await AcquireExclusiveAsync(ct).ConfigureAwait(false);
        try
        {
            long clusters = (_size + _clusterSize - 1) >> _clusterBits;
            for (long c = 0; c < clusters; c++)
            {
                await BeginWriteAsync(ct).ConfigureAwait(false);
                var (entry, bitmap) = await _map.LookupAsync(c, ct).ConfigureAwait(false);
                if (entry != 0 || bitmap != 0)
                {
                    await SetMappingAsync(c, entry, 0, 0, ct, FreeReason.Snapshot).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _lock.Release();
        }
        await FlushAsync(ct).ConfigureAwait(false);
    }
}
