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
        foreach (var bitmapCase in BitmapDirectoryCases())
        {
            yield return bitmapCase;
        }
        yield return Patched("feature-table-odd-length", "feature name table extension length = 383 (not a multiple of 48)",
            i => i.Be32(i.Header.Find(H.FeatureNameTableExtension)!.Offset + 4, 383), "opens; read: read 65536/65536 bytes at offset 0; write: wrote 131072/131072 bytes at offset 0", ours: null);
    }

    // Images with two persistent bitmaps (b0, b1) made by qemu-img, then one field of the
    // bitmaps extension or of the first directory entry patched.
    private static IEnumerable<MalformedImage> BitmapDirectoryCases()
    {
        const string Constraints = "open fails: Bitmap 'b0' doesn't satisfy the constraints";
        yield return WithBitmapDirectory("bitmap-granularity-bits-8", "bitmap directory entry 0: granularity_bits = 8",
            (i, dir, ext) => i.Byte(dir + 17, 8), Constraints);
        yield return WithBitmapDirectory("bitmap-table-offset-unaligned", "bitmap directory entry 0: bitmap_table_offset += 0x200",
            (i, dir, ext) => i.Be64(dir, i.ReadBe64(dir) + 0x200), Constraints);
        yield return WithBitmapDirectory("bitmap-reserved-flag", "bitmap directory entry 0: flags |= bit 3 (reserved)",
            (i, dir, ext) => i.Be32(dir + 12, i.ReadBe32(dir + 12) | 8), Constraints);
        yield return WithBitmapDirectory("bitmap-type-2", "bitmap directory entry 0: type = 2",
            (i, dir, ext) => i.Byte(dir + 16, 2), Constraints);
        yield return WithBitmapDirectory("bitmap-extra-data", "bitmap directory entry 0: extra_data_size = 8",
            (i, dir, ext) => i.Be32(dir + 20, 8), "open fails: Bitmap extra data is not supported");
        yield return WithBitmapDirectory("bitmap-name-size-past-directory", "bitmap directory entry 0: name_size = 1000 (past the directory's end)",
            (i, dir, ext) => i.Bytes(dir + 18, [0x03, 0xe8]), "open fails: Broken bitmap directory");
        yield return WithBitmapDirectory("bitmaps-count-too-low", "bitmaps extension: nb_bitmaps = 1 (the directory holds 2)",
            (i, dir, ext) => i.Be32(ext, 1), "open fails: More bitmaps found than specified in header extension");
        yield return WithBitmapDirectory("bitmaps-count-too-high", "bitmaps extension: nb_bitmaps = 3 (the directory holds 2)",
            (i, dir, ext) => i.Be32(ext, 3), "open fails: Less bitmaps found than specified in header extension");
        yield return WithBitmapDirectory("bitmap-directory-size-8", "bitmaps extension: bitmap_directory_size = 8",
            (i, dir, ext) => i.Be64(ext + 8, 8), "open fails: Broken bitmap directory");
        yield return WithBitmapDirectory("bitmap-directory-size-zero", "bitmaps extension: bitmap_directory_size = 0",
            (i, dir, ext) => i.Be64(ext + 8, 0), "open fails: Requested bitmap directory size is zero");
        yield return WithBitmapDirectory("bitmap-directory-past-eof", "bitmaps extension: bitmap_directory_offset = 1 GiB (past the end of the file)",
            (i, dir, ext) => i.Be64(ext + 16, 1UL << 30), "open fails: Bitmap '' doesn't satisfy the constraints");
    }

    private static MalformedImage WithBitmapDirectory(string name, string patch, Action<ImageEditor, long, long> edit, string qsd) =>
        Built(name, patch, async (ws, ct) =>
        {
            var image = await ws.CreateWithDataAsync(ImageName, ct);
            await QemuTools.CheckedAsync(QemuTools.QemuImg, ["bitmap", "--add", image.Path, "b0"], ct);
            await QemuTools.CheckedAsync(QemuTools.QemuImg, ["bitmap", "--add", "-g", "131072", image.Path, "b1"], ct);
            long ext = image.Header.Find(H.BitmapsExtension)!.DataOffset;
            edit(image, (long)image.ReadBe64(ext + 16), ext);
            return image;
        }, qsd);

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
