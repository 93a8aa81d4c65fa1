using System.Text;
using H = BlockDaemon.Qcow2.Tests.Malformed.Qcow2HeaderView;

namespace BlockDaemon.Qcow2.Tests.Malformed;

// Header fields: magic, version, cluster_bits, header_length, feature bits, refcount_order, size.
internal static partial class MalformedImages
{
    private static IEnumerable<MalformedImage> HeaderCases()
    {
        yield return Patched("bad-magic", "magic = \"XXXX\"",
            i => i.Bytes(H.MagicOffset, Encoding.ASCII.GetBytes("XXXX")),
            "open fails: Image is not in qcow2 format");
        yield return Patched("version-1", "version = 1", i => i.Be32(H.VersionOffset, 1), "open fails: Unsupported qcow2 version 1");
        yield return Patched("version-4", "version = 4", i => i.Be32(H.VersionOffset, 4), "open fails: Unsupported qcow2 version 4");
        yield return Patched("cluster-bits-8", "cluster_bits = 8", i => i.Be32(H.ClusterBitsOffset, 8), "open fails: Unsupported cluster size: 2^8");
        yield return Patched("cluster-bits-22", "cluster_bits = 22", i => i.Be32(H.ClusterBitsOffset, 22), "open fails: Unsupported cluster size: 2^22");
        yield return Patched("cluster-bits-255", "cluster_bits = 255", i => i.Be32(H.ClusterBitsOffset, 255), "open fails: Unsupported cluster size: 2^255");
        yield return Patched("header-length-too-small", "header_length = 100",
            i => i.Be32(H.HeaderLengthOffset, 100), "open fails: qcow2 header too short");
        yield return Patched("header-length-unaligned", "header_length = 108",
            i => i.Be32(H.HeaderLengthOffset, 108), "open fails: Header extension too large");
        yield return Patched("header-length-beyond-cluster", "header_length = 65544 (cluster is 65536)",
            i => i.Be32(H.HeaderLengthOffset, 65544), "open fails: qcow2 header exceeds cluster size");
        yield return Patched("unknown-incompatible-bit", "incompatible_features |= bit 5",
            i => i.SetIncompatible(1 << 5), "open fails: Unsupported qcow2 feature(s): Unknown incompatible feature: 20");
        yield return Patched("unknown-incompatible-bit-63", "incompatible_features |= bit 63",
            i => i.SetIncompatible(1UL << 63), "open fails: Unsupported qcow2 feature(s): Unknown incompatible feature: 8000000000000000");
        yield return Patched("corrupt-bit-read-write", "incompatible_features |= corrupt (bit 1); opened read-write",
            i => i.SetIncompatible(2), "open fails: qcow2: Image is corrupt; cannot be opened read/write");
        yield return Patched("corrupt-bit-read-only", "incompatible_features |= corrupt (bit 1); opened read-only",
            i => i.SetIncompatible(2), "opens; read: read 65536/65536 bytes at offset 0; write: qemu-io: Block node is read-only", ours: null) with { ReadOnly = true };
        yield return Built("dirty-bit-lazy-refcounts", "created with lazy_refcounts=on; incompatible_features |= dirty (bit 0)",
            async (ws, ct) =>
            {
                var image = await ws.CreateWithDataAsync(ImageName, ct, options: "lazy_refcounts=on");
                return image.SetIncompatible(1);
            }, "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: null);
        yield return Patched("dirty-bit-without-lazy-refcounts", "incompatible_features |= dirty (bit 0); lazy refcounts off",
            i => i.SetIncompatible(1), "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: null);
        yield return Patched("external-data-bit-without-extension", "incompatible_features |= external data file (bit 2), no data-file extension",
            i => i.SetIncompatible(4), "open fails: 'data-file' is required for this image");
        yield return Patched("compression-type-invalid", "compression_type (byte 104) = 7, incompatible_features |= compression type (bit 3)",
            i => i.Byte(H.CompressionTypeOffset, 7).SetIncompatible(8), "open fails: qcow2: unknown compression type: 7");
        yield return Patched("compression-type-without-bit", "compression_type (byte 104) = 1 (zstd), compression type bit clear",
            i => i.Byte(H.CompressionTypeOffset, 1), "open fails: qcow2: Compression type incompatible feature bit must be set");
        yield return Built("extended-l2-small-clusters", "created with cluster_size=4096; incompatible_features |= extended L2 (bit 4)",
            async (ws, ct) =>
            {
                var image = await ws.CreateWithDataAsync(ImageName, ct, options: "cluster_size=4096");
                return image.SetIncompatible(16);
            }, "open fails: Unsupported subcluster size: 128");
        yield return Patched("refcount-order-7", "refcount_order = 7", i => i.Be32(H.RefcountOrderOffset, 7), "open fails: Reference count entry width too large; may not exceed 64 bits");
        yield return Patched("virtual-size-unaligned", "size = 64 MiB + 1", i => i.Be64(H.SizeOffset, (64 << 20) + 1), "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: null);
        yield return Patched("virtual-size-over-2^63", "size = 2^63", i => i.Be64(H.SizeOffset, 1UL << 63), "open fails: Image is too big");
        yield return Patched("virtual-size-zero", "size = 0", i => i.Be64(H.SizeOffset, 0), "opens; read: read failed: Input/output error; write: write failed: Input/output error", ours: null);
    }
}
