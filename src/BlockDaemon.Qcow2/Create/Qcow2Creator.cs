using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2.Create;

/// <summary>
/// Formats a file as a new qcow2 image, laid out as qemu-img lays it out: header in cluster 0,
/// refcount table, refcount blocks, L1 table (then, when preallocating, L2 tables and data).
/// Every option is validated before the first byte is written.
/// </summary>
public static class Qcow2Creator
{
    // Feature name table entries: (type, bit, name), in the order qemu writes them.
    private static readonly (byte Type, byte Bit, string Name)[] FeatureNames =
    [
        (0, 0, "dirty bit"), (0, 1, "corrupt bit"), (0, 2, "external data file"), (0, 3, "compression type"),
        (0, 4, "extended L2 entries"), (1, 0, "lazy refcounts"), (2, 0, "bitmaps"), (2, 1, "raw external data"),
    ];

    public static ValueTask CreateAsync(BlockChild file, Qcow2CreateOptions o, CancellationToken ct) => CreateAsync(file, null, o, ct);

    /// <summary>
    /// Formats <paramref name="file"/>; with an external data file, <paramref name="data"/> is
    /// its node and <c>o.DataFile</c> the name the header records for it.
    /// </summary>
    public static async ValueTask CreateAsync(BlockChild file, BlockChild? data, Qcow2CreateOptions o, CancellationToken ct)
    {
        Qcow2CreateValidation.Validate(o);
        // qsd writes a first header before the late checks fail; they fail after the command's
        // reply there, so yield first to fail at the same point, but with nothing written.
        await Task.Yield();
        Qcow2CreateValidation.ValidateLate(o);
        if (o.DataFile is not null != data is not null)
        {
            throw new ArgumentException("data-file needs both its name and its node", nameof(data));
        }
        // A raw data file must read as the image without the metadata, so its clusters are
        // mapped one to one from the start, as qsd does by turning "off" into "metadata".
        if (o.DataFileRaw && o.Preallocation == Preallocation.Off)
        {
            o = o with { Preallocation = Preallocation.Metadata };
        }
        int cs = o.ClusterSize;
        int clusterBits = BitOperations.Log2((uint)cs);
        int refcountOrder = BitOperations.Log2((uint)o.RefcountBits);
        long perL2 = cs / (o.ExtendedL2 ? 16 : 8);
        long l1Entries = (o.Size + perL2 * cs - 1) / (perL2 * cs);
        long l1Clusters = (l1Entries * 8 + cs - 1) / cs;
        bool prealloc = o.Preallocation != Preallocation.Off;
        long dataClusters = prealloc && o.DataFile is null ? (o.Size + cs - 1) / cs : 0;
        long l2Clusters = prealloc ? (dataClusters > 0 ? (dataClusters + perL2 - 1) / perL2 : (o.Size + perL2 * cs - 1) / (perL2 * cs)) : 0;
        long entriesPerBlock = ((long)cs * 8) >> refcountOrder;

        // Refcount table and blocks must count themselves: iterate to a fixed point.
        long blocks = 1, tableClusters = 1;
        while (true)
        {
            long total = 1 + tableClusters + blocks + l1Clusters + l2Clusters + dataClusters;
            long needBlocks = (total + entriesPerBlock - 1) / entriesPerBlock;
            long needTable = Math.Max(1, (needBlocks * 8 + cs - 1) / cs);
            if (needBlocks == blocks && needTable == tableClusters)
            {
                break;
            }
            (blocks, tableClusters) = (needBlocks, needTable);
        }
        if (tableClusters * cs > Qcow2Limits.MaxRefcountTableBytes)
        {
            throw BlockException.Invalid("The image size is too large for file format 'qcow2' (try using a larger cluster size)");
        }
        long tableStart = 1, blocksStart = 1 + tableClusters, l1Start = blocksStart + blocks;
        long l2Start = l1Start + l1Clusters, dataStart = l2Start + l2Clusters;
        long usedClusters = dataStart + dataClusters;
        if (o.Preallocation is Preallocation.Falloc or Preallocation.Full && data is null && file.Length > usedClusters << clusterBits)
        {
            // qsd grows the file to the end of the data area with the preallocation mode, which
            // file-posix refuses for a file already longer; refused here before anything is written.
            throw new BlockException(BlockErrorKind.NotSupported,
                "Could not resize image: Failed to resize underlying file: Cannot use preallocation for shrinking files");
        }

        var header = BuildHeader(o, clusterBits, refcountOrder, l1Entries, (ulong)l1Start << clusterBits, (ulong)tableStart << clusterBits, (uint)tableClusters);
        var cluster0 = new byte[cs];
        if (!header.TryWrite(cluster0, out _))
        {
            throw BlockException.Invalid("The header extensions and backing file name do not fit in one cluster");
        }

        long l1End = (l1Start << clusterBits) + Math.Max(8, l1Entries * 8);
        if (o.StartFromEmptyFile)
        {
            // Start from an empty file so no stale bytes survive in the metadata area.
            await file.TruncateAsync(0, ct).ConfigureAwait(false);
            await file.TruncateAsync(l1End, ct).ConfigureAwait(false);
        }
        else
        {
            // blockdev-create keeps what the node holds beyond the new metadata, as qsd does,
            // and writes the (empty) L1 table itself instead of relying on a fresh file's zeroes.
            if (file.Length < l1End)
            {
                await file.TruncateAsync(l1End, ct).ConfigureAwait(false);
            }
            await file.WriteAsync(l1Start << clusterBits, new byte[l1End - (l1Start << clusterBits)], WriteFlags.None, ct).ConfigureAwait(false);
        }
        await file.WriteAsync(0, cluster0, WriteFlags.None, ct).ConfigureAwait(false);

        var table = new byte[tableClusters * cs];
        for (long b = 0; b < blocks; b++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(table.AsSpan((int)(b * 8)), (ulong)(blocksStart + b) << clusterBits);
        }
        await file.WriteAsync(tableStart << clusterBits, table, WriteFlags.None, ct).ConfigureAwait(false);

        var block = new byte[cs];
        for (long b = 0; b < blocks; b++)
        {
            Array.Clear(block);
            for (long i = 0; i < entriesPerBlock; i++)
            {
                long c = b * entriesPerBlock + i;
                if (c >= usedClusters)
                {
                    break;
                }
                Refcounts.Write(block, refcountOrder, i, 1);
            }
            await file.WriteAsync((blocksStart + b) << clusterBits, block, WriteFlags.None, ct).ConfigureAwait(false);
        }

        if (prealloc)
        {
            var layout = new Qcow2PreallocationLayout(o, clusterBits, perL2, l1Entries, l1Start, l2Start, l2Clusters, dataStart, dataClusters);
            await Qcow2Preallocation.WriteAsync(file, data, o, layout, ct).ConfigureAwait(false);
        }
        else if (data is not null && data.Length < o.Size)
        {
            // qcow2_co_truncate resizes the data file with the image (growing it only).
            await data.TruncateAsync(o.Size, ct).ConfigureAwait(false);
        }
        await file.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The feature name table QEMU writes into version 3 headers.</summary>
    internal static byte[] FeatureNameTable()
    {
        var names = new byte[FeatureNames.Length * 48];
        for (int i = 0; i < FeatureNames.Length; i++)
        {
            names[i * 48] = FeatureNames[i].Type;
            names[i * 48 + 1] = FeatureNames[i].Bit;
            Encoding.ASCII.GetBytes(FeatureNames[i].Name, names.AsSpan(i * 48 + 2));
        }
        return names;
    }

    private static Qcow2Header BuildHeader(Qcow2CreateOptions o, int clusterBits, int refcountOrder, long l1Entries, ulong l1Offset, ulong tableOffset, uint tableClusters)
    {
        var extensions = new List<HeaderExtension>();
        if (o.BackingFormat is { } format)
        {
            extensions.Add(new HeaderExtension(HeaderExtensionType.BackingFormat, Encoding.UTF8.GetBytes(format)));
        }
        if (o.DataFile is { } dataFile)
        {
            extensions.Add(new HeaderExtension(HeaderExtensionType.ExternalDataFile, Encoding.UTF8.GetBytes(dataFile)));
        }
        // qemu leaves the feature name table out when it would fill the whole first cluster.
        int used = Qcow2Header.V3Length + extensions.Sum(e => 8 + ((e.Data.Length + 7) & ~7)) + 8
            + (o.BackingFile is { } b ? Encoding.UTF8.GetByteCount(b) : 0);
        if (o.Version == 3 && used + 8 + FeatureNames.Length * 48 < 1 << clusterBits)
        {
            extensions.Add(new HeaderExtension(HeaderExtensionType.FeatureNameTable, FeatureNameTable()));
        }
        var incompatible = IncompatibleFeatures.None;
        if (o.DataFile is not null)
        {
            incompatible |= IncompatibleFeatures.ExternalDataFile;
        }
        if (o.CompressionType != CompressionType.Zlib)
        {
            incompatible |= IncompatibleFeatures.CompressionType;
        }
        if (o.ExtendedL2)
        {
            incompatible |= IncompatibleFeatures.ExtendedL2;
        }
        return new Qcow2Header
        {
            Version = o.Version,
            ClusterBits = clusterBits,
            Size = o.Size,
            L1Size = (uint)l1Entries,
            L1TableOffset = l1Entries > 0 ? l1Offset : 0,
            RefcountTableOffset = tableOffset,
            RefcountTableClusters = tableClusters,
            RawIncompatible = (ulong)incompatible,
            Incompatible = incompatible,
            Compatible = o.LazyRefcounts ? CompatibleFeatures.LazyRefcounts : CompatibleFeatures.None,
            Autoclear = o.DataFileRaw ? AutoclearFeatures.DataFileRaw : AutoclearFeatures.None,
            RefcountOrder = o.Version == 3 ? refcountOrder : 4,
            HeaderLength = (uint)(o.Version == 3 ? Qcow2Header.V3Length : Qcow2Header.V2Length),
            Compression = o.CompressionType,
            Extensions = extensions,
            BackingFileName = o.BackingFile,
        };
    }
}
