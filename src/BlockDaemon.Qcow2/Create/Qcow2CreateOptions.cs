using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2.Create;

public enum Preallocation
{
    Off,
    Metadata,
    Falloc,
    Full,
}

/// <summary>BlockdevCreateOptionsQcow2, in the block layer's terms (defaults as qemu-img's).</summary>
public sealed record Qcow2CreateOptions
{
    public required long Size { get; init; }
    public int Version { get; init; } = 3;
    public int ClusterSize { get; init; } = 65536;
    public int RefcountBits { get; init; } = 16;
    public bool LazyRefcounts { get; init; }
    public string? BackingFile { get; init; }
    public string? BackingFormat { get; init; }
    public Preallocation Preallocation { get; init; }
    public bool ExtendedL2 { get; init; }
    public CompressionType CompressionType { get; init; }
    public string? DataFile { get; init; }
    public bool DataFileRaw { get; init; }

    /// <summary>
    /// qemu-img creates a fresh file (true); blockdev-create formats an existing node and leaves
    /// its length and the bytes past the new metadata alone, as qsd does (false).
    /// </summary>
    public bool StartFromEmptyFile { get; init; } = true;
}
