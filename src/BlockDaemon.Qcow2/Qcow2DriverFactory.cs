using System.Buffers.Binary;
using System.Collections.Immutable;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Options;
using BlockDaemon.Qcow2.Engine;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

/// <summary>
/// Opens qcow2 images: validates every header field before use, loads the L1 and refcount
/// tables, and opens the backing chain (from the header, given explicitly, or none).
/// </summary>
public sealed class Qcow2DriverFactory : IBlockDriverFactory
{
    private const long DefaultL2CacheMax = 32L << 20;
    private const long DefaultRefcountCache = 256L << 10;

    // The images being opened in this async flow, outermost first: loops and depth are caught here.
    private static readonly AsyncLocal<ImmutableList<string>> OpeningChain = new();

    public string DriverName => "qcow2";

    public bool HasFileChild => true;

    public async ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var options = context.Options;
        long? l2CacheOption = options.GetInt64("l2-cache-size");
        long? refcountCacheOption = options.GetInt64("refcount-cache-size");
        long? cacheSizeOption = options.GetInt64("cache-size");
        long cacheCleanInterval = options.GetInt64("cache-clean-interval") ?? Qcow2Driver.DefaultCacheCleanInterval;
        long? l2EntrySizeOption = options.GetInt64("l2-cache-entry-size");
        // QEMU's defaults: guest discards pass when the node unmaps, snapshot deletions always, the rest never.
        var passDiscard = new DiscardPolicy(
            options.GetBool("pass-discard-request", context.Node.Common.DiscardUnmap),
            options.GetBool("pass-discard-snapshot", true),
            options.GetBool("pass-discard-other", false));
        foreach (string ignored in new[] { "cache-clean-interval", "lazy-refcounts", "pass-discard-request", "pass-discard-snapshot",
            "pass-discard-other", "overlap-check", "l2-cache-entry-size", "l2-cache-size", "refcount-cache-size", "cache-size" })
        {
            options.Remove(ignored);
        }
        foreach (var (name, value) in new[] { ("l2-cache-size", l2CacheOption), ("refcount-cache-size", refcountCacheOption), ("cache-size", cacheSizeOption), ("l2-cache-entry-size", l2EntrySizeOption) })
        {
            if (value < 0)
            {
                throw BlockException.Invalid($"Parameter '{name}' expects a non-negative number below 2^64");
            }
        }
        // QEMU's read_cache_sizes, in its order.
        if (cacheSizeOption is { } cacheSize)
        {
            if (l2CacheOption is not null && refcountCacheOption is not null)
            {
                throw BlockException.Invalid("cache-size, l2-cache-size and refcount-cache-size may not be set at the same time");
            }
            if (l2CacheOption > cacheSize)
            {
                throw BlockException.Invalid("l2-cache-size may not exceed cache-size");
            }
            if (refcountCacheOption > cacheSize)
            {
                throw BlockException.Invalid("refcount-cache-size may not exceed cache-size");
            }
        }
        if (cacheCleanInterval is < 0 or > uint.MaxValue)
        {
            throw Qcow2Errors.Invalid("Cache clean interval too big");
        }

        var file = await context.OpenChildAsync("file", "file", ct).ConfigureAwait(false);
        var header = await ReadHeaderAsync(file, ct).ConfigureAwait(false);
        bool readOnly = context.Node.ReadOnly;
        if (l2EntrySizeOption is { } entrySize && (entrySize < 512 || entrySize > header.ClusterSize || (entrySize & (entrySize - 1)) != 0))
        {
            throw BlockException.Invalid($"L2 cache entry size must be a power of two between 512 and the cluster size ({header.ClusterSize})");
        }
        Validate(header, file.Length, readOnly);

        string imagePath = file.Node.Driver.DisplayName;
        var chain = OpeningChain.Value ?? [];
        string identity = Canonical(imagePath);
        if (chain.Contains(identity))
        {
            throw Qcow2Errors.Invalid($"Backing file loop: {string.Join(" -> ", chain.Append(identity))}");
        }
        if (chain.Count >= Qcow2Limits.MaxBackingDepth)
        {
            throw Qcow2Errors.Invalid($"Backing chain of '{chain[0]}' is deeper than {Qcow2Limits.MaxBackingDepth} images");
        }

        int clusterSize = header.ClusterSize;
        var refcountTable = await ReadTableAsync(file, header.RefcountTableOffset, (long)header.RefcountTableClusters * clusterSize / 8, ct).ConfigureAwait(false);
        var l1 = await ReadTableAsync(file, header.L1TableOffset, header.L1Size, ct).ConfigureAwait(false);
        var (snapshots, snapshotTableBytes) = await ReadSnapshotsAsync(file, header, ct).ConfigureAwait(false);
        var bitmaps = await ReadBitmapDirectoryAsync(file, header, ct).ConfigureAwait(false);

        long coveredBytes = (long)l1.Length * (clusterSize / (header.ExtendedL2 ? 16 : 8)) * clusterSize;
        long l2CacheBytes = l2CacheOption ?? (cacheSizeOption is { } total ? total * 3 / 4 : Math.Min(DefaultL2CacheMax, Math.Max(coveredBytes / (clusterSize / (header.ExtendedL2 ? 16 : 8)), 1L << 20)));
        long refcountCacheBytes = refcountCacheOption ?? (cacheSizeOption is { } t ? t / 4 : Math.Max(DefaultRefcountCache, 4L * clusterSize));
        var refcounts = new RefcountStore(file, header.ClusterBits, header.RefcountOrder, refcountTable, header.RefcountTableOffset,
            (file.Length + clusterSize - 1) / clusterSize, (int)Math.Clamp(refcountCacheBytes / clusterSize, 4, 1 << 16));
        var map = new ClusterMap(file, refcounts, header.ClusterBits, header.ExtendedL2, l1, header.L1TableOffset,
            (int)Math.Clamp(l2CacheBytes / clusterSize, 2, 1 << 20));

        OpeningChain.Value = chain.Add(identity);
        var backing = await OpenBackingAsync(context, header, imagePath, ct).ConfigureAwait(false);
        var dataFile = await OpenDataFileAsync(context, header, imagePath, ct).ConfigureAwait(false);

        var driver = new Qcow2Driver(context.Node, file, dataFile, backing, header, map, refcounts, snapshots, snapshotTableBytes, passDiscard)
        {
            StoredBitmaps = bitmaps,
        };
        driver.StartCacheCleaner(TimeSpan.FromSeconds(cacheCleanInterval));
        return driver;
    }

    private static string Canonical(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? info.FullName;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return path;
        }
    }

    private static async ValueTask<Qcow2Header> ReadHeaderAsync(BlockChild file, CancellationToken ct)
    {
        long length = file.Length;
        var start = new byte[(int)Math.Min(length, 24)];
        await file.ReadAsync(0, start, ct).ConfigureAwait(false);
        int clusterSize = 512;
        if (start.Length == 24 && BinaryPrimitives.ReadUInt32BigEndian(start) == Qcow2Header.Magic
            && BinaryPrimitives.ReadUInt32BigEndian(start.AsSpan(20)) is uint bits and >= Qcow2Header.MinClusterBits and <= Qcow2Header.MaxClusterBits)
        {
            clusterSize = 1 << (int)bits;
        }
        // The header, its extensions and the backing file name all live in the first cluster.
        var cluster = new byte[(int)Math.Min(length, Math.Max(clusterSize, Qcow2Header.V3Length))];
        await file.ReadAsync(0, cluster, ct).ConfigureAwait(false);
        return Qcow2Header.Parse(cluster);
    }

    private static void Validate(Qcow2Header header, long fileLength, bool readOnly)
    {
        ulong unknown = header.RawIncompatible & ~(ulong)IncompatibleFeatures.Known;
        if (unknown != 0)
        {
            var names = header.IncompatibleFeatureNames();
            var parts = new List<string>();
            for (int bit = 0; bit < 64; bit++)
            {
                if ((unknown >> bit & 1) != 0 && names.TryGetValue(bit, out var name))
                {
                    parts.Add(name);
                    unknown &= ~(1UL << bit);
                }
            }
            if (unknown != 0)
            {
                parts.Add($"Unknown incompatible feature: {unknown:x}");
            }
            throw Qcow2Errors.NotSupported($"Unsupported qcow2 feature(s): {string.Join(", ", parts)}");
        }
        if ((header.Incompatible & IncompatibleFeatures.Corrupt) != 0 && !readOnly)
        {
            throw Qcow2Errors.Invalid("qcow2: Image is corrupt; cannot be opened read/write");
        }
        if (header.CryptMethod != 0)
        {
            throw Qcow2Errors.NotSupported($"Unsupported encryption method: {header.CryptMethod}; blockd does not open encrypted images");
        }
        if (header.ExtendedL2 && header.ClusterBits < 14)
        {
            throw Qcow2Errors.Invalid($"Unsupported subcluster size: {header.ClusterSize / 32}");
        }
        bool compressionBit = (header.Incompatible & IncompatibleFeatures.CompressionType) != 0;
        if (header.Compression is not (CompressionType.Zlib or CompressionType.Zstd))
        {
            throw Qcow2Errors.Invalid($"qcow2: unknown compression type: {(byte)header.Compression}");
        }
        if (header.Compression == CompressionType.Zlib && compressionBit)
        {
            throw Qcow2Errors.Invalid("qcow2: Compression type incompatible feature bit must not be set");
        }
        if (header.Compression != CompressionType.Zlib && !compressionBit)
        {
            throw Qcow2Errors.Invalid("qcow2: Compression type incompatible feature bit must be set");
        }
        int clusterSize = header.ClusterSize;
        if ((long)header.RefcountTableClusters * clusterSize > Qcow2Limits.MaxRefcountTableBytes)
        {
            throw Qcow2Errors.Invalid("Reference count table too large");
        }
        if (header.RefcountTableClusters == 0 || !ValidTableOffset(header.RefcountTableOffset, (long)header.RefcountTableClusters * clusterSize, clusterSize))
        {
            throw Qcow2Errors.Invalid("Reference count table offset invalid");
        }
        if (header.SnapshotCount * (long)SnapshotEntry.FixedLength > Qcow2Limits.MaxSnapshotTableBytes)
        {
            throw Qcow2Errors.Invalid("Snapshot table too large");
        }
        if (header.SnapshotCount > 0 && !ValidTableOffset(header.SnapshotsOffset, header.SnapshotCount * (long)SnapshotEntry.FixedLength, clusterSize))
        {
            throw Qcow2Errors.Invalid("Snapshot table offset invalid");
        }
        if (header.SnapshotCount > Qcow2Limits.MaxSnapshots)
        {
            throw Qcow2Errors.Invalid("Too many snapshots");
        }
        if ((long)header.L1Size * 8 > Qcow2Limits.MaxL1Bytes)
        {
            throw Qcow2Errors.Invalid("Active L1 table too large");
        }
        long perL2 = clusterSize / (header.ExtendedL2 ? 16 : 8);
        long coveredPerL1 = perL2 * clusterSize;
        long neededL1 = (header.Size + coveredPerL1 - 1) / coveredPerL1;
        if (neededL1 > int.MaxValue)
        {
            throw Qcow2Errors.Invalid("Image is too big");
        }
        if (header.L1Size < neededL1)
        {
            throw Qcow2Errors.Invalid("L1 table is too small");
        }
        if (header.L1Size > 0 && !ValidTableOffset(header.L1TableOffset, (long)header.L1Size * 8, clusterSize))
        {
            throw Qcow2Errors.Invalid("Active L1 table offset invalid");
        }
        ValidateBitmapsExtension(header);
        _ = fileLength;
    }

    // The bitmaps extension counts only while its autoclear bit is set; a program that does not
    // know bitmaps clears the bit, and the extension is then ignored.
    private static void ValidateBitmapsExtension(Qcow2Header header)
    {
        if (header.FindExtension(HeaderExtensionType.Bitmaps) is not { } ext || (header.Autoclear & AutoclearFeatures.Bitmaps) == 0)
        {
            return;
        }
        var data = ext.Data.AsSpan();
        if (data.Length != 24)
        {
            throw Qcow2Errors.Invalid("bitmaps_ext: Invalid extension length");
        }
        uint count = BinaryPrimitives.ReadUInt32BigEndian(data);
        ulong directorySize = BinaryPrimitives.ReadUInt64BigEndian(data[8..]);
        ulong directoryOffset = BinaryPrimitives.ReadUInt64BigEndian(data[16..]);
        if (BinaryPrimitives.ReadUInt32BigEndian(data[4..]) != 0)
        {
            throw Qcow2Errors.Invalid("bitmaps_ext: Reserved field is not zero");
        }
        if (count > Qcow2Limits.MaxBitmaps)
        {
            throw Qcow2Errors.Invalid($"bitmaps_ext: Image has {count} bitmaps, exceeding the supported maximum of {Qcow2Limits.MaxBitmaps}");
        }
        if (count == 0)
        {
            throw Qcow2Errors.Invalid("found bitmaps extension with zero bitmaps");
        }
        if ((directoryOffset & (ulong)(header.ClusterSize - 1)) != 0)
        {
            throw Qcow2Errors.Invalid("bitmaps_ext: invalid bitmap directory offset");
        }
        if (directorySize > Qcow2Limits.MaxBitmapDirectoryBytes)
        {
            throw Qcow2Errors.Invalid($"bitmaps_ext: bitmap directory size ({directorySize}) exceeds the maximum supported size ({Qcow2Limits.MaxBitmapDirectoryBytes})");
        }
    }

    // QEMU's validate_table_offset: aligned, and offset + size does not overflow.
    private static bool ValidTableOffset(ulong offset, long size, int clusterSize) =>
        (offset & (ulong)(clusterSize - 1)) == 0 && offset <= long.MaxValue && (long)offset <= long.MaxValue - size;

    // Loaded (and validated) at open as QEMU does, so an image with a broken directory is refused
    // before anything trusts it; a directory past the end of the file reads as zeroes.
    private static async ValueTask<List<BitmapDirectoryEntry>> ReadBitmapDirectoryAsync(BlockChild file, Qcow2Header header, CancellationToken ct)
    {
        if (header.FindExtension(HeaderExtensionType.Bitmaps) is not { } ext || (header.Autoclear & AutoclearFeatures.Bitmaps) == 0)
        {
            return [];
        }
        uint count = BinaryPrimitives.ReadUInt32BigEndian(ext.Data);
        long size = (long)BinaryPrimitives.ReadUInt64BigEndian(ext.Data.AsSpan(8));
        ulong offset = BinaryPrimitives.ReadUInt64BigEndian(ext.Data.AsSpan(16));
        var directory = new byte[size];
        long available = Math.Clamp(file.Length - (long)Math.Min(offset, (ulong)long.MaxValue), 0, size);
        if (available > 0)
        {
            await file.ReadAsync((long)offset, directory.AsMemory(0, (int)available), ct).ConfigureAwait(false);
        }
        return BitmapDirectory.Parse(directory, count, header.ClusterSize, header.Size);
    }

    private static async ValueTask<ulong[]> ReadTableAsync(BlockChild file, ulong offset, long entries, CancellationToken ct)
    {
        if (entries == 0)
        {
            return [];
        }
        long bytes = entries * 8;
        // A table that lies (partly) beyond the end of the file reads as zeroes, as in QEMU:
        // such an image opens, and its first allocation meets the overlap guard.
        var raw = new byte[bytes];
        long available = Math.Clamp(file.Length - (long)Math.Min(offset, (ulong)long.MaxValue), 0, bytes);
        if (available > 0)
        {
            await file.ReadAsync((long)offset, raw.AsMemory(0, (int)available), ct).ConfigureAwait(false);
        }
        var table = new ulong[entries];
        for (long i = 0; i < entries; i++)
        {
            table[i] = BinaryPrimitives.ReadUInt64BigEndian(raw.AsSpan((int)(i * 8)));
        }
        return table;
    }

    // Returns the entries and the table's size on disk (up to the end of the last name, as
    // QEMU counts it when it frees the table). An entry without a disk size gets the image's,
    // as QEMU fills it in, so that a rewrite of the table records what QEMU would.
    private static async ValueTask<(List<SnapshotEntry> Entries, long TableBytes)> ReadSnapshotsAsync(BlockChild file, Qcow2Header header, CancellationToken ct)
    {
        var list = new List<SnapshotEntry>();
        if (header.SnapshotCount == 0)
        {
            return (list, 0);
        }
        long tableEnd = 0;
        long offset = (long)header.SnapshotsOffset;
        long limit = Math.Min(file.Length, offset + Qcow2Limits.MaxSnapshotTableBytes);
        var buffer = new byte[64 << 10];
        long bufferStart = -1;
        int bufferLength = 0;
        for (uint i = 0; i < header.SnapshotCount; i++)
        {
            while (true)
            {
                if (bufferStart >= 0 && offset >= bufferStart)
                {
                    int consumed = SnapshotEntry.TryRead(buffer.AsSpan((int)(offset - bufferStart), bufferLength - (int)(offset - bufferStart)), out var entry);
                    if (consumed > 0)
                    {
                        list.Add(entry!.DiskSize is null ? entry with { DiskSize = (ulong)header.Size } : entry);
                        tableEnd = offset + UnpaddedLength(buffer.AsSpan((int)(offset - bufferStart)));
                        offset += consumed;
                        break;
                    }
                }
                int want = (int)Math.Min(buffer.Length, limit - offset);
                if (want <= 0 || (bufferStart == offset && want <= bufferLength))
                {
                    throw Qcow2Errors.Invalid("Snapshot table is too big or lies beyond the end of the image file");
                }
                await file.ReadAsync(offset, buffer.AsMemory(0, want), ct).ConfigureAwait(false);
                bufferStart = offset;
                bufferLength = want;
            }
        }
        return (list, tableEnd - (long)header.SnapshotsOffset);
    }

    // An entry's length without the padding that aligns the next one.
    private static long UnpaddedLength(ReadOnlySpan<byte> entry) =>
        SnapshotEntry.FixedLength + BinaryPrimitives.ReadUInt32BigEndian(entry[36..])
        + BinaryPrimitives.ReadUInt16BigEndian(entry[12..]) + BinaryPrimitives.ReadUInt16BigEndian(entry[14..]);

    private static async ValueTask<BlockChild?> OpenBackingAsync(DriverOpenContext context, Qcow2Header header, string imagePath, CancellationToken ct)
    {
        if (context.Options.TryGet("backing", out var given))
        {
            if (given is null)
            {
                context.Options.Remove("backing");
                return null;
            }
            return await OpenBackingChildAsync(context, ct).ConfigureAwait(false);
        }
        if (header.BackingFileName is not { } name)
        {
            return null;
        }
        var backingOptions = new OptionDict();
        backingOptions.Set("driver", BackingFormat(header, name));
        var fileOptions = new OptionDict();
        fileOptions.Set("driver", "file");
        fileOptions.Set("filename", ResolveBackingPath(name, imagePath));
        backingOptions.Set("file", fileOptions);
        backingOptions.Set("read-only", true);
        context.Options.Set("backing", backingOptions);
        return await OpenBackingChildAsync(context, ct).ConfigureAwait(false);
    }

    // Each level of a chain prefixes its backing's open error, as QEMU does, so the message
    // shows how deep in the chain the failure lies.
    private static async ValueTask<BlockChild> OpenBackingChildAsync(DriverOpenContext context, CancellationToken ct)
    {
        try
        {
            return await context.OpenChildAsync("backing", "backing", ct).ConfigureAwait(false);
        }
        catch (BlockException e)
        {
            throw new BlockException(e.Kind, "Could not open backing file: " + e.Message, e) { Errno = e.Errno };
        }
    }

    private static string BackingFormat(Qcow2Header header, string name) => header.BackingFormat switch
    {
        null => throw Qcow2Errors.Invalid(
            $"The image header names backing file '{name}' without its format; give the backing node explicitly with 'backing', or record the format with 'qemu-img rebase -u -F FORMAT -b {name}'"),
        "qcow2" or "raw" => header.BackingFormat,
        var other => throw Qcow2Errors.NotSupported($"Backing format '{other}' of backing file '{name}' is not supported"),
    };

    /// <summary>
    /// Header backing names are plain file names, relative to the image's directory. json: and
    /// protocol names are refused: a crafted image could reach other files or sockets with them.
    /// </summary>
    private static string ResolveBackingPath(string name, string imagePath)
    {
        if (name.Length == 0)
        {
            throw Qcow2Errors.Invalid("The image header names an empty backing file");
        }
        if (name.StartsWith("json:", StringComparison.Ordinal) || IsProtocol(name))
        {
            throw Qcow2Errors.Invalid(
                $"Refusing backing file name '{name}' from the image header: only plain file names are followed; give the backing node explicitly with 'backing' to use it");
        }
        if (name.Contains('\0', StringComparison.Ordinal))
        {
            throw Qcow2Errors.Invalid("The backing file name in the image header contains a NUL byte");
        }
        if (Path.IsPathRooted(name))
        {
            return name;
        }
        string? directory = Path.GetDirectoryName(imagePath);
        return string.IsNullOrEmpty(directory) ? name : Path.Combine(directory, name);
    }

    // QEMU's path_has_protocol: "proto:" before any '/'.
    private static bool IsProtocol(string name)
    {
        int colon = name.IndexOf(':', StringComparison.Ordinal);
        int slash = name.IndexOf('/', StringComparison.Ordinal);
        return colon > 0 && (slash < 0 || colon < slash);
    }

    private static async ValueTask<BlockChild?> OpenDataFileAsync(DriverOpenContext context, Qcow2Header header, string imagePath, CancellationToken ct)
    {
        bool required = (header.Incompatible & IncompatibleFeatures.ExternalDataFile) != 0;
        if (context.Options.Contains("data-file"))
        {
            if (!required)
            {
                throw Qcow2Errors.Invalid("'data-file' can only be set for images with an external data file");
            }
            return await context.OpenChildAsync("data-file", "data-file", ct).ConfigureAwait(false);
        }
        if (!required)
        {
            return null;
        }
        if (header.DataFile is not { } name)
        {
            throw Qcow2Errors.Invalid("'data-file' is required for this image");
        }
        var fileOptions = new OptionDict();
        fileOptions.Set("driver", "file");
        fileOptions.Set("filename", ResolveBackingPath(name, imagePath));
        context.Options.Set("data-file", fileOptions);
        return await context.OpenChildAsync("data-file", "data-file", ct).ConfigureAwait(false);
    }
}
