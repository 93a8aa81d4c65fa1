namespace BlockDaemon.Qcow2.Format;

/// <summary>
/// Bit layouts of table entries (big-endian u64 on disk):
/// <code>
/// L1 entry:       63 COPIED | 62..56 reserved | 55..9 L2 table offset | 8..0 reserved
/// L2 standard:    63 COPIED | 62 COMPRESSED=0 | 61..56 reserved | 55..9 host cluster offset | 8..1 reserved | 0 ALL-ZERO
/// L2 compressed:  62 COMPRESSED=1 | 61..x additional 512-byte sectors | x-1..0 host byte offset, x = 62 - (cluster_bits - 8)
/// L2 extended:    the above, then a u64 bitmap: 63..32 "reads as zero" per subcluster, 31..0 "allocated" per subcluster
/// refcount table: 63..9 refcount block offset | 8..0 reserved
/// </code>
/// </summary>
public static class TableEntries
{
    public const ulong Copied = 1UL << 63;
    public const ulong Compressed = 1UL << 62;
    public const ulong ZeroFlag = 1;
    public const ulong OffsetMask = 0x00ff_ffff_ffff_fe00UL;
    public const ulong L1ReservedMask = 0x7f00_0000_0000_01ffUL;
    public const ulong L2ReservedMask = 0x3f00_0000_0000_01feUL;
    public const ulong RefcountTableReservedMask = 0x1ffUL;
    public const int SubclustersPerCluster = 32;

    public static ulong L1Offset(ulong entry) => entry & OffsetMask;

    public static ulong L2Offset(ulong entry) => entry & OffsetMask;

    /// <summary>Host byte offset and length in bytes (whole sectors) of a compressed cluster.</summary>
    public static (ulong Offset, ulong Length) CompressedExtent(ulong entry, int clusterBits)
    {
        int x = 62 - (clusterBits - 8);
        ulong offsetMask = (1UL << x) - 1;
        ulong sectorsMask = (1UL << (clusterBits - 8)) - 1;
        ulong offset = entry & offsetMask;
        ulong sectors = ((entry >> x) & sectorsMask) + 1;
        // The stored count is of 512-byte sectors beyond the one holding the first byte.
        ulong end = ((offset & ~511UL) + (sectors * 512));
        return (offset, end - offset);
    }

    public static ulong MakeCompressed(ulong offset, int sizeInBytes, int clusterBits)
    {
        int x = 62 - (clusterBits - 8);
        ulong lastSector = (offset + (ulong)sizeInBytes - 1) >> 9;
        ulong additional = lastSector - (offset >> 9);
        return Compressed | (additional << x) | offset;
    }

    public static uint AllocatedBits(ulong bitmap) => (uint)bitmap;

    public static uint ZeroBits(ulong bitmap) => (uint)(bitmap >> 32);

    public static ulong MakeBitmap(uint allocated, uint zero) => ((ulong)zero << 32) | allocated;
}
