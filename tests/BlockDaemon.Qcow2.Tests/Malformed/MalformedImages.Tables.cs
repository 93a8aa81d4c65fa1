using H = BlockDaemon.Qcow2.Tests.Malformed.Qcow2HeaderView;

namespace BlockDaemon.Qcow2.Tests.Malformed;

// Header fields that locate tables: L1, refcount table, snapshot table.
internal static partial class MalformedImages
{
    private static IEnumerable<MalformedImage> TableFieldCases()
    {
        yield return Patched("l1-offset-unaligned", "l1_table_offset += 512",
            i => i.Be64(H.L1TableOffsetOffset, (ulong)i.Header.L1TableOffset + 512), "open fails: Active L1 table offset invalid");
        yield return Patched("l1-offset-zero", "l1_table_offset = 0 (the header)",
            i => i.Be64(H.L1TableOffsetOffset, 0), "opens; read: read 65536/65536 bytes at offset 0; write: write failed: Input/output error / qcow2: Marking image as corrupt: Preventing invalid write on metadata (overlaps with qcow2_header); further corruption events will be suppressed", ours: null);
        yield return Patched("l1-offset-past-eof", "l1_table_offset = 1 GiB (file is 384 KiB)",
            i => i.Be64(H.L1TableOffsetOffset, 1UL << 30), "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: null);
        yield return Patched("l1-offset-2^62", "l1_table_offset = 2^62",
            i => i.Be64(H.L1TableOffsetOffset, 1UL << 62), "opens; read: read 65536/65536 bytes at offset 0; write: write failed: File too large", ours: null);
        yield return Patched("l1-size-huge", "l1_size = 2^31",
            i => i.Be32(H.L1SizeOffset, 1U << 31), "open fails: Active L1 table too large");
        yield return Patched("l1-size-too-small", "l1_size = 0 (64 MiB needs 1)",
            i => i.Be32(H.L1SizeOffset, 0), "open fails: L1 table is too small");
        yield return Patched("refcount-table-offset-unaligned", "refcount_table_offset += 512",
            i => i.Be64(H.RefcountTableOffsetOffset, (ulong)i.Header.RefcountTableOffset + 512), "open fails: Reference count table offset invalid");
        yield return Patched("refcount-table-overlaps-header", "refcount_table_offset = 0 (the header)",
            i => i.Be64(H.RefcountTableOffsetOffset, 0), "opens; read: read 65536/65536 bytes at offset 0; write: write failed: File too large / qemu-io: Failed to flush the L2 table cache: File too large / qemu-io: Failed to flush the refcount block cache: File too large", ours: null);
        yield return Patched("refcount-table-clusters-huge", "refcount_table_clusters = 0xffffffff",
            i => i.Be32(H.RefcountTableClustersOffset, uint.MaxValue), "open fails: Reference count table too large");
        yield return Patched("snapshot-table-offset-unaligned", "nb_snapshots = 1, snapshots_offset = 0x10200",
            i => i.Be32(H.NbSnapshotsOffset, 1).Be64(H.SnapshotsOffsetOffset, 0x10200), "open fails: Snapshot table offset invalid");
        yield return Patched("nb-snapshots-huge", "nb_snapshots = 0xffffffff, snapshots_offset = 0x60000",
            i => i.Be32(H.NbSnapshotsOffset, uint.MaxValue).Be64(H.SnapshotsOffsetOffset, 0x60000), "open fails: Snapshot table too large");
    }
}
