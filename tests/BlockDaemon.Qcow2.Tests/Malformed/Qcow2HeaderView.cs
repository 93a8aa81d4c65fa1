using System.Buffers.Binary;

namespace BlockDaemon.Qcow2.Tests.Malformed;

/// <summary>
/// A test-only reader of a qcow2 header (qemu docs/interop/qcow2.txt, "Header"), used to find
/// the offsets to patch. It trusts the image: it reads images qemu-img just made.
/// </summary>
/// <remarks>
/// <code>
///   0  magic "QFI\xfb"             4  version                 8  backing_file_offset (u64)
///  16  backing_file_size (u32)    20  cluster_bits           24  size (u64)
///  32  crypt_method               36  l1_size                40  l1_table_offset (u64)
///  48  refcount_table_offset (u64) 56 refcount_table_clusters 60  nb_snapshots
///  64  snapshots_offset (u64)      -- v3 --
///  72  incompatible_features (u64) 80 compatible_features (u64) 88 autoclear_features (u64)
///  96  refcount_order            100  header_length          104  compression_type (u8)
/// then header extensions: type (u32), length (u32), data padded to 8; type 0 ends the list.
/// </code>
/// </remarks>
internal sealed record Qcow2HeaderView
{
    public const int MagicOffset = 0;
    public const int VersionOffset = 4;
    public const int BackingFileOffsetOffset = 8;
    public const int BackingFileSizeOffset = 16;
    public const int ClusterBitsOffset = 20;
    public const int SizeOffset = 24;
    public const int L1SizeOffset = 36;
    public const int L1TableOffsetOffset = 40;
    public const int RefcountTableOffsetOffset = 48;
    public const int RefcountTableClustersOffset = 56;
    public const int NbSnapshotsOffset = 60;
    public const int SnapshotsOffsetOffset = 64;
    public const int IncompatibleFeaturesOffset = 72;
    public const int CompatibleFeaturesOffset = 80;
    public const int AutoclearFeaturesOffset = 88;
    public const int RefcountOrderOffset = 96;
    public const int HeaderLengthOffset = 100;
    public const int CompressionTypeOffset = 104;

    public const uint BackingFormatExtension = 0xe2792aca;
    public const uint FeatureNameTableExtension = 0x6803f857;
    public const uint BitmapsExtension = 0x23852875;
    public const uint ExternalDataFileExtension = 0x44415441;

    public required uint Version { get; init; }
    public required ulong BackingFileOffset { get; init; }
    public required uint BackingFileSize { get; init; }
    public required int ClusterBits { get; init; }
    public required ulong Size { get; init; }
    public required uint L1Size { get; init; }
    public required long L1TableOffset { get; init; }
    public required long RefcountTableOffset { get; init; }
    public required uint RefcountTableClusters { get; init; }
    public required ulong IncompatibleFeatures { get; init; }
    public required uint HeaderLength { get; init; }
    public required IReadOnlyList<HeaderExtension> Extensions { get; init; }

    public int ClusterSize => 1 << ClusterBits;

    /// <summary>Where the extension area ends (just after the terminating type-0 extension).</summary>
    public required int ExtensionsEnd { get; init; }

    public static Qcow2HeaderView Read(string path)
    {
        using var handle = File.OpenHandle(path);
        var cluster = new byte[Math.Min(RandomAccess.GetLength(handle), 2 << 20)];
        RandomAccess.Read(handle, cluster, 0);
        return Parse(cluster);
    }

    public static Qcow2HeaderView Parse(ReadOnlySpan<byte> cluster)
    {
        if (BinaryPrimitives.ReadUInt32BigEndian(cluster) != 0x514649fb)
        {
            throw new InvalidDataException("Not a qcow2 image");
        }
        uint version = Be32(cluster, VersionOffset);
        uint headerLength = version >= 3 ? Be32(cluster, HeaderLengthOffset) : 72;
        var extensions = new List<HeaderExtension>();
        int position = (int)headerLength;
        while (true)
        {
            uint type = Be32(cluster, position);
            uint length = Be32(cluster, position + 4);
            if (type == 0)
            {
                position += 8;
                break;
            }
            extensions.Add(new HeaderExtension(type, position, (int)length));
            position += 8 + (int)((length + 7) & ~7u);
        }
        return new Qcow2HeaderView
        {
            Version = version,
            BackingFileOffset = Be64(cluster, BackingFileOffsetOffset),
            BackingFileSize = Be32(cluster, BackingFileSizeOffset),
            ClusterBits = (int)Be32(cluster, ClusterBitsOffset),
            Size = Be64(cluster, SizeOffset),
            L1Size = Be32(cluster, L1SizeOffset),
            L1TableOffset = (long)Be64(cluster, L1TableOffsetOffset),
            RefcountTableOffset = (long)Be64(cluster, RefcountTableOffsetOffset),
            RefcountTableClusters = Be32(cluster, RefcountTableClustersOffset),
            IncompatibleFeatures = version >= 3 ? Be64(cluster, IncompatibleFeaturesOffset) : 0,
            HeaderLength = headerLength,
            Extensions = extensions,
            ExtensionsEnd = position,
        };
    }

    public HeaderExtension? Find(uint type) => Extensions.FirstOrDefault(e => e.Type == type);

    private static uint Be32(ReadOnlySpan<byte> b, int offset) => BinaryPrimitives.ReadUInt32BigEndian(b[offset..]);

    private static ulong Be64(ReadOnlySpan<byte> b, int offset) => BinaryPrimitives.ReadUInt64BigEndian(b[offset..]);
}

/// <summary>One header extension: its type, where its 8-byte type/length prefix starts, its data length.</summary>
internal sealed record HeaderExtension(uint Type, int Offset, int Length)
{
    public int DataOffset => Offset + 8;
}
