using static BlockDaemon.Qcow2.Tests.Malformed.ImageEditor;

namespace BlockDaemon.Qcow2.Tests.Malformed;

// Table entries: L1, L2 (standard and compressed), refcount table and refcount blocks.
internal static partial class MalformedImages
{
    private const ulong FourGiB = 1UL << 32;

    // Compressed descriptor with 64 KiB clusters: offset in bits 0-53, extra sectors in 54-61.
    private const int CompressedSectorShift = 62 - (16 - 8);
    private const ulong CompressedOffsetMask = (1UL << CompressedSectorShift) - 1;

    private static IEnumerable<MalformedImage> EntryCases()
    {
        yield return Patched("l1-entry-reserved-bits", "L1[0] |= 0x7f00000000000001 (bits 0 and 56-62)",
            i => i.Be64(i.L1EntryOffset(0), i.ReadBe64(i.L1EntryOffset(0)) | 0x7f00_0000_0000_0001), "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: null);
        yield return Patched("l1-entry-copied-flag-only", "L1[0] = 0x8000000000000000 (copied flag, offset 0)",
            i => i.Be64(i.L1EntryOffset(0), Copied), "opens; read: read 65536/65536 bytes at offset 0; write: qemu-io: ../../block/qcow2-cache.c:330: qcow2_cache_do_get: Assertion `offset != 0' failed. (exit 134)", ours: null) with
            {
                OursWriteFails = true,
                AfterIo = HeaderIntact,
                Why = "qsd 7.2 aborts on the first write (assertion `offset != 0' in qcow2_cache_do_get): the copied flag claims an L2 table at offset 0, the header",
            };
        yield return Patched("l1-entry-past-eof", "L1[0] = copied | 4 GiB",
            i => i.Be64(i.L1EntryOffset(0), Copied | FourGiB), "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: null);
        yield return Patched("l1-entry-unaligned", "L1[0] += 0x200",
            i => i.Be64(i.L1EntryOffset(0), i.ReadBe64(i.L1EntryOffset(0)) + 0x200), "opens; read: read failed: Input/output error / qcow2: Marking image as corrupt: L2 table offset 0x40200 unaligned (L1 index: 0); further corruption events will be suppressed; write: write failed: Input/output error / qcow2: Marking image as corrupt: L2 table offset 0x40200 unaligned (L1 index: 0); further corruption events will be suppressed", ours: null);
        yield return Patched("l2-entry-past-eof", "L2[0] = copied | 4 GiB",
            i => i.Be64(i.L2EntryOffset(0), Copied | FourGiB), "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: null);
        yield return Patched("l2-entry-unaligned", "L2[0] += 0x200",
            i => i.Be64(i.L2EntryOffset(0), i.ReadBe64(i.L2EntryOffset(0)) + 0x200), "opens; read: read failed: Input/output error / qcow2: Marking image as corrupt: Cluster allocation offset 0x50200 unaligned (L2 offset: 0x40000, L2 index: 0); further corruption events will be suppressed; write: write failed: Input/output error / qcow2: Marking image as corrupt: Data cluster offset 0x50200 unaligned (guest offset: 0); further corruption events will be suppressed", ours: null);
        yield return CompressedCase("compressed-entry-past-eof", "compressed L2[0]: host offset = 4 GiB",
            e => (e & ~CompressedOffsetMask) | FourGiB, "opens; read: read failed: Input/output error; write: wrote 131072/131072 bytes at offset 0 / qcow2_free_clusters failed: Resource temporarily unavailable");
        yield return CompressedCase("compressed-entry-bad-size", "compressed L2[0]: additional sectors = 255 (runs past EOF)",
            e => (e & (Compressed | CompressedOffsetMask)) | (255UL << CompressedSectorShift), "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0");
        yield return CompressedCase("compressed-entry-copied-flag", "compressed L2[0] |= copied flag",
            e => e | Copied, "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0");
        yield return Patched("refcount-table-entry-unaligned", "refcount_table[0] += 0x200",
            i => i.Be64(i.RefcountTableEntryOffset(0), i.ReadBe64(i.RefcountTableEntryOffset(0)) + 0x200), "opens; read: read 65536/65536 bytes at offset 0; write: write failed: Input/output error / qcow2: Marking image as corrupt: Refblock offset 0x20200 unaligned (reftable index: 0); further corruption events will be suppressed", ours: null);
        yield return Patched("refcount-table-entry-past-eof", "refcount_table[0] = 4 GiB",
            i => i.Be64(i.RefcountTableEntryOffset(0), FourGiB), "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: null);
        yield return Patched("refcount-block-metadata-free", "refcount block: refcounts of clusters 0-4 (header, refcount table and block, L1, L2) = 0; the write is 64k at 64k (needs a new cluster)",
            i => i.Bytes((long)(i.ReadBe64(i.RefcountTableEntryOffset(0)) & OffsetMask), new byte[2 * 5]), "opens; read: read 65536/65536 bytes at offset 0; write: write failed: Input/output error / qcow2: Marking image as corrupt: Preventing invalid write on metadata (overlaps with qcow2_header); further corruption events will be suppressed", ours: null)
            with { AfterIo = MetadataIntact, Write = (64 << 10, 64 << 10) };
    }

    private static MalformedImage CompressedCase(string name, string patch, Func<ulong, ulong> edit, string qsd) =>
        Built(name, patch, async (ws, ct) =>
        {
            var image = await ws.CreateAsync(ImageName, ct);
            await ws.QemuIoAsync(image.Path, "write -c -P 0x5a 0 64k", ct);
            long entry = image.L2EntryOffset(0);
            ulong value = image.ReadBe64(entry);
            if ((value & Compressed) == 0)
            {
                throw new InvalidOperationException($"qemu-io did not write a compressed cluster: L2[0] = {Hex(value)}");
            }
            return image.Be64(entry, edit(value));
        }, qsd, ours: null);

    /// <summary>The first cluster (header, extensions, backing name) is as it was, except the feature bits.</summary>
    private static string? HeaderIntact(ImageEditor image, byte[] before) => Compare(image, before, 0x10000, _ => false);

    /// <summary>
    /// After a write into an image whose refcounts say the metadata clusters are free: the header
    /// (except the feature bits, which may now say "corrupt"), the refcount table and the L1 table
    /// are as they were, so nothing was allocated over them. (The refcount block may change.)
    /// </summary>
    private static string? MetadataIntact(ImageEditor image, byte[] before)
    {
        const int refcountBlock = 0x20000, cluster = 0x10000;
        return Compare(image, before, 0x40000, i => i is >= refcountBlock and < refcountBlock + cluster);
    }

    private static string? Compare(ImageEditor image, byte[] before, int length, Func<int, bool> mayChange)
    {
        var now = image.ReadBytes(0, length);
        for (int i = 0; i < length; i++)
        {
            bool featureBits = i is >= Qcow2HeaderView.IncompatibleFeaturesOffset and < Qcow2HeaderView.IncompatibleFeaturesOffset + 8;
            if (!featureBits && !mayChange(i) && (i >= now.Length || now[i] != before[i]))
            {
                return $"Byte {Hex((ulong)i)} of the image changed: the write allocated a cluster over metadata";
            }
        }
        return null;
    }
}
