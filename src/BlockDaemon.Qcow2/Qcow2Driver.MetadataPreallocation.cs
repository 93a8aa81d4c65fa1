using BlockDaemon.Core.Io;

namespace BlockDaemon.Qcow2;

public sealed partial class Qcow2Driver
{
    // Decided at the first block-status query and kept for the life of the driver, as qemu
    // decides once per open; guarded by _lock.
    private bool? _metadataPreallocated;

    /// <summary>
    /// Whether the image looks metadata-preallocated: far more clusters carry a refcount than
    /// the image file really occupies. Only then does qemu 7.2 ask the file below a data cluster
    /// whether its bytes are a hole (BDRV_BLOCK_RECURSE); for every other image a written data
    /// cluster is data even where the host file has a hole under it. Callers hold _lock.
    /// </summary>
    private async ValueTask<bool> IsMetadataPreallocatedAsync(CancellationToken ct)
    {
        if (_metadataPreallocated is { } known)
        {
            return known;
        }
        bool detected = false;
        // Without the file's real allocation (not a local file) there is nothing to compare with.
        if (_file.Node.Driver.AllocatedBytes is { } allocated)
        {
            long realClusters = allocated / _clusterSize;
            long threshold = Math.Max(realClusters * 10 / 9, realClusters + 2);
            long endCluster = (_file.Length + _clusterSize - 1) >> _clusterBits;
            long counted = 0;
            for (long cluster = 0; cluster < endCluster && counted <= threshold; cluster++)
            {
                if (await _refcounts.GetAsync(cluster, ct).ConfigureAwait(false) != 0)
                {
                    counted++;
                }
            }
            detected = counted > threshold;
        }
        _metadataPreallocated = detected;
        return detected;
    }
}
