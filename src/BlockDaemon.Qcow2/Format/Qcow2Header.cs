using System.Buffers.Binary;
using System.Text;

namespace BlockDaemon.Qcow2.Format;

/// <summary>
/// The qcow2 header (all fields big-endian):
/// <code>
///   0 magic "QFI\xfb"          4 version (2|3)          8 backing_file_offset (u64)
///  16 backing_file_size (u32) 20 cluster_bits           24 size (u64, virtual bytes)
///  32 crypt_method            36 l1_size               40 l1_table_offset (u64)
///  48 refcount_table_offset   56 refcount_table_clusters 60 nb_snapshots
///  64 snapshots_offset (u64)  -- version 3 only: --
///  72 incompatible_features   80 compatible_features   88 autoclear_features
///  96 refcount_order         100 header_length         104 compression_type (u8) + 7 pad
/// </code>
/// followed by header extensions (type u32, length u32, data padded to 8) up to type 0,
/// and the backing file name somewhere in the first cluster.
/// </summary>
public sealed record Qcow2Header
{
    public const uint Magic = 0x514649fb;
    public const int V2Length = 72;
    public const int V3MinLength = 104;
    public const int V3Length = 112;
    public const int MinClusterBits = 9;
    public const int MaxClusterBits = 21;
    public const int MaxBackingNameLength = 1023;

    public required int Version { get; init; }
    public ulong BackingFileOffset { get; init; }
    public uint BackingFileSize { get; init; }
    public required int ClusterBits { get; init; }
    public required long Size { get; init; }
    public uint CryptMethod { get; init; }
    public required uint L1Size { get; init; }
    public required ulong L1TableOffset { get; init; }
    public required ulong RefcountTableOffset { get; init; }
    public required uint RefcountTableClusters { get; init; }
    public uint SnapshotCount { get; init; }
    public ulong SnapshotsOffset { get; init; }
    public IncompatibleFeatures Incompatible { get; init; }
    public CompatibleFeatures Compatible { get; init; }
    public AutoclearFeatures Autoclear { get; init; }
    public int RefcountOrder { get; init; } = 4;
    public uint HeaderLength { get; init; }
    public CompressionType Compression { get; init; }

    /// <summary>Raw incompatible bits, including unknown ones (for the error message).</summary>
    public ulong RawIncompatible { get; init; }

    /// <summary>Extensions in file order, unknown ones included; the end marker is not listed.</summary>
    public IReadOnlyList<HeaderExtension> Extensions { get; init; } = [];

    /// <summary>The backing file name bytes as stored (UTF-8 in practice), or null.</summary>
    public string? BackingFileName { get; init; }

    public int ClusterSize => 1 << ClusterBits;

    public bool ExtendedL2 => (Incompatible & IncompatibleFeatures.ExtendedL2) != 0;

    public string? BackingFormat => FindExtension(HeaderExtensionType.BackingFormat) is { } e
        ? Encoding.UTF8.GetString(e.Data).TrimEnd('\0') : null;

    public string? DataFile => FindExtension(HeaderExtensionType.ExternalDataFile) is { } e
        ? Encoding.UTF8.GetString(e.Data).TrimEnd('\0') : null;

    public HeaderExtension? FindExtension(uint type) => Extensions.FirstOrDefault(e => e.Type == type);

    /// <summary>Names of incompatible features from the image's feature name table (bit → name).</summary>
    public IReadOnlyDictionary<int, string> IncompatibleFeatureNames()
    {
        var names = new Dictionary<int, string>();
        if (FindExtension(HeaderExtensionType.FeatureNameTable) is not { } table)
        {
            return names;
        }
        // Entries of 48 bytes: type (0 = incompatible), bit number, 46-byte NUL-padded name.
        for (int i = 0; i + 48 <= table.Data.Length; i += 48)
        {
            if (table.Data[i] == 0)
            {
                names[table.Data[i + 1]] = Encoding.UTF8.GetString(table.Data.AsSpan(i + 2, 46)).TrimEnd('\0');
            }
        }
        return names;
    }

    /// <summary>
    /// Parses and validates the header from the first bytes of the image (at least one cluster
    /// or the whole file when shorter). Messages follow QEMU's where QEMU has one.
    /// </summary>
    public static Qcow2Header Parse(ReadOnlySpan<byte> data)
    {
        if (data.Length < V2Length)
        {
            throw Qcow2Errors.Invalid(data.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(data) == Magic
                ? "Could not read qcow2 header: image too short" : "Image is not in qcow2 format");
        }
        if (BinaryPrimitives.ReadUInt32BigEndian(data) != Magic)
        {
            throw Qcow2Errors.Invalid("Image is not in qcow2 format");
        }
        uint version = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        if (version is < 2 or > 3)
        {
            throw Qcow2Errors.NotSupported($"Unsupported qcow2 version {version}");
        }
        uint clusterBits = BinaryPrimitives.ReadUInt32BigEndian(data[20..]);
        if (clusterBits is < MinClusterBits or > MaxClusterBits)
        {
            throw Qcow2Errors.Invalid($"Unsupported cluster size: 2^{(int)clusterBits}");
        }
        int clusterSize = 1 << (int)clusterBits;
        ulong incompatible = 0, compatible = 0, autoclear = 0;
        uint refcountOrder = 4, headerLength = V2Length;
        var compression = CompressionType.Zlib;
        if (version == 3)
        {
            if (data.Length < V3MinLength)
            {
                throw Qcow2Errors.Invalid("Could not read qcow2 header: image too short");
            }
            incompatible = BinaryPrimitives.ReadUInt64BigEndian(data[72..]);
            compatible = BinaryPrimitives.ReadUInt64BigEndian(data[80..]);
            autoclear = BinaryPrimitives.ReadUInt64BigEndian(data[88..]);
            refcountOrder = BinaryPrimitives.ReadUInt32BigEndian(data[96..]);
            headerLength = BinaryPrimitives.ReadUInt32BigEndian(data[100..]);
            if (headerLength < V3MinLength)
            {
                throw Qcow2Errors.Invalid("qcow2 header too short");
            }
            if (headerLength > clusterSize)
            {
                throw Qcow2Errors.Invalid("qcow2 header exceeds cluster size");
            }
            if (headerLength > V3MinLength)
            {
                if (data.Length <= V3MinLength)
                {
                    throw Qcow2Errors.Invalid("Could not read qcow2 header: image too short");
                }
                compression = (CompressionType)data[104];
            }
        }
        else
        {
            refcountOrder = 4;
        }
        if (refcountOrder > 6)
        {
            throw Qcow2Errors.Invalid("Reference count entry width too large; may not exceed 64 bits");
        }
        ulong backingOffset = BinaryPrimitives.ReadUInt64BigEndian(data[8..]);
        uint backingSize = BinaryPrimitives.ReadUInt32BigEndian(data[16..]);
        if (backingOffset > (ulong)clusterSize)
        {
            throw Qcow2Errors.Invalid("Invalid backing file offset");
        }
        var extensions = ReadExtensions(data, (int)headerLength, backingOffset, clusterSize);
        string? backingName = null;
        if (backingOffset != 0)
        {
            if (backingSize > MaxBackingNameLength || backingSize > (ulong)clusterSize - backingOffset)
            {
                throw Qcow2Errors.Invalid("Backing file name too long");
            }
            if (backingOffset + backingSize > (ulong)data.Length)
            {
                throw Qcow2Errors.Invalid("Could not read backing file name: image too short");
            }
            backingName = Encoding.UTF8.GetString(data.Slice((int)backingOffset, (int)backingSize));
        }
        ulong rawSize = BinaryPrimitives.ReadUInt64BigEndian(data[24..]);
        if (rawSize > (ulong)long.MaxValue)
        {
            throw Qcow2Errors.Invalid("Image is too big");
        }
        return new Qcow2Header
        {
            Version = (int)version,
            BackingFileOffset = backingOffset,
            BackingFileSize = backingSize,
            ClusterBits = (int)clusterBits,
            Size = (long)rawSize,
            CryptMethod = BinaryPrimitives.ReadUInt32BigEndian(data[32..]),
            L1Size = BinaryPrimitives.ReadUInt32BigEndian(data[36..]),
            L1TableOffset = BinaryPrimitives.ReadUInt64BigEndian(data[40..]),
            RefcountTableOffset = BinaryPrimitives.ReadUInt64BigEndian(data[48..]),
            RefcountTableClusters = BinaryPrimitives.ReadUInt32BigEndian(data[56..]),
            SnapshotCount = BinaryPrimitives.ReadUInt32BigEndian(data[60..]),
            SnapshotsOffset = BinaryPrimitives.ReadUInt64BigEndian(data[64..]),
            RawIncompatible = incompatible,
            Incompatible = (IncompatibleFeatures)incompatible,
            Compatible = (CompatibleFeatures)compatible,
            Autoclear = (AutoclearFeatures)autoclear,
            RefcountOrder = (int)refcountOrder,
            HeaderLength = headerLength,
            Compression = compression,
            Extensions = extensions,
            BackingFileName = backingName,
        };
    }

    // Extensions run from the end of the fixed header to the end marker, within the first
    // cluster and before the backing file name when there is one.
    private static List<HeaderExtension> ReadExtensions(ReadOnlySpan<byte> data, int start, ulong backingOffset, int clusterSize)
    {
        var list = new List<HeaderExtension>();
        long end = backingOffset != 0 ? (long)backingOffset : clusterSize;
        end = Math.Min(end, data.Length);
        long offset = start;
        while (offset < end)
        {
            if (offset + 8 > end)
            {
                throw Qcow2Errors.Invalid("qcow2_read_extension: ERROR: pread fail from offset " + offset);
            }
            uint type = BinaryPrimitives.ReadUInt32BigEndian(data[(int)offset..]);
            uint length = BinaryPrimitives.ReadUInt32BigEndian(data[(int)(offset + 4)..]);
            offset += 8;
            // The length is checked before the end marker is recognised, as QEMU does: a
            // header_length pointing into the middle of the fixed header must not pass.
            if (length > end - offset)
            {
                throw Qcow2Errors.Invalid("Header extension too large");
            }
            if (type == HeaderExtensionType.End)
            {
                break;
            }
            var payload = data.Slice((int)offset, (int)length).ToArray();
            if (type == HeaderExtensionType.BackingFormat && list.Any(e => e.Type == type))
            {
                throw Qcow2Errors.Invalid("Duplicate backing file format header extension");
            }
            if (type == HeaderExtensionType.BackingFormat && length >= 16)
            {
                throw Qcow2Errors.Invalid($"ERROR: ext_backing_format: len={length} too large (>=16)");
            }
            list.Add(new HeaderExtension(type, payload));
            offset += (length + 7) & ~7u;
        }
        return list;
    }

    /// <summary>
    /// Writes the fixed header, the extensions, the end marker and the backing file name into
    /// <paramref name="cluster"/> (the whole first cluster, zero-filled first). Returns false
    /// when they do not fit.
    /// </summary>
    public bool TryWrite(Span<byte> cluster, out Qcow2Header written)
    {
        cluster.Clear();
        written = this;
        int fixedLength = Version == 3 ? V3Length : V2Length;
        int offset = fixedLength;
        foreach (var extension in Extensions)
        {
            int padded = (extension.Data.Length + 7) & ~7;
            if (offset + 8 + padded > cluster.Length)
            {
                return false;
            }
            BinaryPrimitives.WriteUInt32BigEndian(cluster[offset..], extension.Type);
            BinaryPrimitives.WriteUInt32BigEndian(cluster[(offset + 4)..], (uint)extension.Data.Length);
            extension.Data.CopyTo(cluster[(offset + 8)..]);
            offset += 8 + padded;
        }
        offset += 8; // End marker: eight zero bytes.
        ulong backingOffset = 0;
        uint backingSize = 0;
        if (BackingFileName is { } name)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(name);
            if (bytes.Length > MaxBackingNameLength || offset + bytes.Length > cluster.Length)
            {
                return false;
            }
            bytes.CopyTo(cluster[offset..]);
            backingOffset = (ulong)offset;
            backingSize = (uint)bytes.Length;
        }
        else if (offset > cluster.Length)
        {
            return false;
        }
        written = this with { BackingFileOffset = backingOffset, BackingFileSize = backingSize, HeaderLength = (uint)(Version == 3 ? V3Length : V2Length) };
        written.WriteFixed(cluster);
        return true;
    }

    /// <summary>Writes the fixed fields only (the first 72 or 112 bytes).</summary>
    public void WriteFixed(Span<byte> data)
    {
        BinaryPrimitives.WriteUInt32BigEndian(data, Magic);
        BinaryPrimitives.WriteUInt32BigEndian(data[4..], (uint)Version);
        BinaryPrimitives.WriteUInt64BigEndian(data[8..], BackingFileOffset);
        BinaryPrimitives.WriteUInt32BigEndian(data[16..], BackingFileSize);
        BinaryPrimitives.WriteUInt32BigEndian(data[20..], (uint)ClusterBits);
        BinaryPrimitives.WriteUInt64BigEndian(data[24..], (ulong)Size);
        BinaryPrimitives.WriteUInt32BigEndian(data[32..], CryptMethod);
        BinaryPrimitives.WriteUInt32BigEndian(data[36..], L1Size);
        BinaryPrimitives.WriteUInt64BigEndian(data[40..], L1TableOffset);
        BinaryPrimitives.WriteUInt64BigEndian(data[48..], RefcountTableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(data[56..], RefcountTableClusters);
        BinaryPrimitives.WriteUInt32BigEndian(data[60..], SnapshotCount);
        BinaryPrimitives.WriteUInt64BigEndian(data[64..], SnapshotsOffset);
        if (Version == 3)
        {
            BinaryPrimitives.WriteUInt64BigEndian(data[72..], RawIncompatible);
            BinaryPrimitives.WriteUInt64BigEndian(data[80..], (ulong)Compatible);
            BinaryPrimitives.WriteUInt64BigEndian(data[88..], (ulong)Autoclear);
            BinaryPrimitives.WriteUInt32BigEndian(data[96..], (uint)RefcountOrder);
            BinaryPrimitives.WriteUInt32BigEndian(data[100..], HeaderLength);
            if (HeaderLength > V3MinLength)
            {
                data[104] = (byte)Compression;
                data[105..112].Clear();
            }
        }
    }
}
