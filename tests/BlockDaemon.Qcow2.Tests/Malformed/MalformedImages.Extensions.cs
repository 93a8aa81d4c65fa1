using System.Buffers.Binary;
using System.Text;
using H = BlockDaemon.Qcow2.Tests.Malformed.Qcow2HeaderView;

namespace BlockDaemon.Qcow2.Tests.Malformed;

// Header extensions, and files cut short.
internal static partial class MalformedImages
{
    private static IEnumerable<MalformedImage> ExtensionCases()
    {
        yield return Patched("extension-length-past-cluster", "feature name table extension length = 0x10000",
            i => i.Be32(i.Header.Find(H.FeatureNameTableExtension)!.Offset + 4, 0x10000), "open fails: Header extension too large");
        yield return Built("duplicate-backing-format", "backing base.qcow2 with two backing format extensions: \"qcow2\" then \"raw\"",
            async (ws, ct) =>
            {
                await ws.CreateWithDataAsync("base.qcow2", ct);
                var image = await ws.CreateAsync(ImageName, ct, backing: "base.qcow2");
                return image.RewriteExtensions(
                [
                    (H.BackingFormatExtension, Encoding.ASCII.GetBytes("qcow2")),
                    (H.BackingFormatExtension, Encoding.ASCII.GetBytes("raw")),
                ], "base.qcow2");
            }, "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0",
            ours: "Duplicate backing file format header extension") with
            {
                Why = "qsd lets the last extension win and serves the qcow2 backing image as raw: format confusion (the spec allows one extension of each type)",
            };
        yield return Patched("bitmaps-extension-nb-bitmaps-0", "bitmaps extension {nb_bitmaps 0, directory size 0, offset 0}, autoclear |= bit 0",
            i => WithBitmaps(i, nbBitmaps: 0, directorySize: 0, directoryOffset: 0), "open fails: found bitmaps extension with zero bitmaps");
        yield return Patched("bitmaps-extension-bad-directory-offset", "bitmaps extension {nb_bitmaps 1, directory size 32, offset 0x10200}, autoclear |= bit 0",
            i => WithBitmaps(i, nbBitmaps: 1, directorySize: 32, directoryOffset: 0x10200), "open fails: bitmaps_ext: invalid bitmap directory offset");
        yield return Patched("feature-table-odd-length", "feature name table extension length = 383 (not a multiple of 48)",
            i => i.Be32(i.Header.Find(H.FeatureNameTableExtension)!.Offset + 4, 383), "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: null);
    }

    private static IEnumerable<MalformedImage> TruncationCases()
    {
        yield return Patched("truncated-to-header-cluster", "file cut to 65536 bytes (header cluster only)",
            i => i.Truncate(65536), "opens; read: read 65536/65536 bytes at offset 0; write: write failed: Input/output error / qcow2: Marking image as corrupt: Preventing invalid write on metadata (overlaps with refcount table); further corruption events will be suppressed", ours: null);
        yield return Patched("truncated-to-100-bytes", "file cut to 100 bytes (v3 header is 104+)",
            i => i.Truncate(100), "open fails: qcow2 header too short");
        yield return Patched("truncated-to-71-bytes", "file cut to 71 bytes (v2 header is 72)",
            i => i.Truncate(71), "open fails: qcow2 header too short");
        yield return Patched("empty-file", "file cut to 0 bytes", i => i.Truncate(0), "open fails: Image is not in qcow2 format");
    }

    private static void WithBitmaps(ImageEditor image, uint nbBitmaps, ulong directorySize, ulong directoryOffset)
    {
        var data = new byte[24];
        BinaryPrimitives.WriteUInt32BigEndian(data, nbBitmaps);
        BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(8), directorySize);
        BinaryPrimitives.WriteUInt64BigEndian(data.AsSpan(16), directoryOffset);
        var header = image.Header;
        var extensions = header.Extensions.Select(e => (e.Type, image.ReadBytes(e.DataOffset, e.Length))).ToList();
        extensions.Add((H.BitmapsExtension, data));
        image.RewriteExtensions(extensions, backingName: null);
        image.Be64(H.AutoclearFeaturesOffset, 1);
    }
}
