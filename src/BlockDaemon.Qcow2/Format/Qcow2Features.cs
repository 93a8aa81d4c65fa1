namespace BlockDaemon.Qcow2.Format;

/// <summary>Incompatible feature bits (header offset 72): a reader that does not know one must refuse the image.</summary>
[Flags]
public enum IncompatibleFeatures : ulong
{
    None = 0,
    /// <summary>Refcounts may be stale (lazy refcounts): repair before trusting them.</summary>
    Dirty = 1 << 0,
    /// <summary>Metadata is known to be corrupt: open read-only only.</summary>
    Corrupt = 1 << 1,
    /// <summary>Guest data lives in an external data file.</summary>
    ExternalDataFile = 1 << 2,
    /// <summary>The compression type field (offset 104) is in use.</summary>
    CompressionType = 1 << 3,
    /// <summary>L2 entries are 128 bits with subcluster bitmaps.</summary>
    ExtendedL2 = 1 << 4,

    Known = Dirty | Corrupt | ExternalDataFile | CompressionType | ExtendedL2,
}

/// <summary>Compatible feature bits (offset 80): safe to ignore.</summary>
[Flags]
public enum CompatibleFeatures : ulong
{
    None = 0,
    LazyRefcounts = 1 << 0,
}

/// <summary>Autoclear feature bits (offset 88): a writer that does not know one clears it.</summary>
[Flags]
public enum AutoclearFeatures : ulong
{
    None = 0,
    /// <summary>The bitmaps extension is consistent with the image.</summary>
    Bitmaps = 1 << 0,
    /// <summary>The external data file is a valid raw image of the guest data.</summary>
    DataFileRaw = 1 << 1,

    Known = Bitmaps | DataFileRaw,
}

/// <summary>The compression type byte (offset 104).</summary>
public enum CompressionType : byte
{
    Zlib = 0,
    Zstd = 1,
}
