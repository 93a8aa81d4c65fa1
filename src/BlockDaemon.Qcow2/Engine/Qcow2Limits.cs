namespace BlockDaemon.Qcow2.Engine;

/// <summary>Sanity limits on table sizes, as QEMU sets them, so a bogus header cannot make us allocate without bound.</summary>
internal static class Qcow2Limits
{
    /// <summary>Largest active L1 table (QEMU's QCOW_MAX_L1_SIZE).</summary>
    public const long MaxL1Bytes = 32L << 20;

    /// <summary>Largest refcount table (QEMU's QCOW_MAX_REFTABLE_SIZE).</summary>
    public const long MaxRefcountTableBytes = 8L << 20;

    /// <summary>Most internal snapshots (QEMU's QCOW_MAX_SNAPSHOTS).</summary>
    public const int MaxSnapshots = 65536;

    /// <summary>Largest snapshot table in bytes (QEMU's QCOW_MAX_SNAPSHOTS_SIZE).</summary>
    public const long MaxSnapshotTableBytes = 64L << 20;

    /// <summary>Deepest backing chain we open; deeper (or looping) chains are refused at once.</summary>
    public const int MaxBackingDepth = 256;

    /// <summary>Most persistent bitmaps in one image (QEMU's QCOW2_MAX_BITMAPS).</summary>
    public const int MaxBitmaps = 65535;

    /// <summary>Largest bitmap directory (QEMU's QCOW2_MAX_BITMAP_DIRECTORY_SIZE).</summary>
    public const long MaxBitmapDirectoryBytes = 1024L * MaxBitmaps;
}
