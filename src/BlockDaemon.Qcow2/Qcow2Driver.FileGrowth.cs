using BlockDaemon.Core.Errors;
using BlockDaemon.Qcow2.Engine;

namespace BlockDaemon.Qcow2;

/// <summary>
/// Growing the image file for new clusters. QEMU lets writes past the end of the file extend it;
/// blockd's file node only takes requests within its length, and each grow is an ftruncate that
/// drains the file node (every in-flight request of the image waits). Growing one cluster at a
/// time put a drain on every allocating write, so the file grows in steps of about an eighth of
/// its size instead (1 MiB to 64 MiB). The tail past the last allocated cluster has refcount 0
/// and reads as zeroes: after a crash it is free space, not a leak (qemu-img check counts only
/// clusters with references); a clean close cuts it off again, so the file ends where QEMU's
/// would.
/// </summary>
public sealed partial class Qcow2Driver
{
    private const long MinGrowStep = 1 << 20;
    private const long MaxGrowStep = 64 << 20;

    // Set once the file was grown beyond what the allocated clusters need.
    private bool _fileHasTail;

    /// <summary>Makes the file hold every allocated cluster (up to <see cref="RefcountStore.EndCluster"/>).</summary>
    private ValueTask GrowFileForAllocationsAsync(CancellationToken ct)
    {
        long needed = _refcounts.EndCluster << _clusterBits;
        if (_file.Length >= needed)
        {
            return ValueTask.CompletedTask;
        }
        long step = Math.Clamp(needed / 8, Math.Max(MinGrowStep, _clusterSize), MaxGrowStep);
        long target = (needed + step + _clusterSize - 1) & ~(long)(_clusterSize - 1);
        _fileHasTail = true;
        return _file.TruncateAsync(target, ct);
    }

    /// <summary>At close: cuts the unused tail a stepped grow left, so the file ends after its last allocated cluster.</summary>
    private async ValueTask TrimGrownTailAsync(CancellationToken ct)
    {
        if (!_fileHasTail)
        {
            return;
        }
        _fileHasTail = false;
        long end = _refcounts.EndCluster << _clusterBits;
        if (_file.Length <= end)
        {
            return;
        }
        try
        {
            await _file.TruncateAsync(end, ct).ConfigureAwait(false);
        }
        catch (BlockException)
        {
            // A tail of free clusters is a valid image; QEMU only warns when it cannot cut one.
        }
    }
}
