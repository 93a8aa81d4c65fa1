namespace BlockDaemon.Core.Io;

/// <summary>
/// Implemented by format drivers (qcow2) that know more about their image than its size: what
/// qsd reports as <c>cluster-size</c>, <c>dirty-flag</c>, <c>snapshots</c> and <c>format-specific</c>.
/// </summary>
public interface IImageInfoSource
{
    ImageInfo GetImageInfo();
}

/// <summary>A format driver's description of its image, in the block layer's terms.</summary>
public sealed record ImageInfo
{
    public int? ClusterSize { get; init; }

    public bool? DirtyFlag { get; init; }

    /// <summary>The backing file name exactly as the image header stores it.</summary>
    public string? BackingFileName { get; init; }

    /// <summary>The backing format from the header (null when the header names none).</summary>
    public string? BackingFormat { get; init; }

    public IReadOnlyList<ImageSnapshot> Snapshots { get; init; } = [];

    /// <summary>The ImageInfoSpecific union's discriminator ("qcow2"); null for none.</summary>
    public string? FormatSpecificType { get; init; }

    /// <summary>
    /// ImageInfoSpecific members in schema names; values are string, long, bool, or nested
    /// lists of such pairs (for e.g. bitmaps).
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, object?>> FormatSpecific { get; init; } = [];
}

/// <summary>An internal snapshot as qsd's SnapshotInfo describes it.</summary>
public sealed record ImageSnapshot(
    string Id,
    string Name,
    long VmStateSize,
    long DateSeconds,
    long DateNanoseconds,
    long VmClockNanoseconds,
    long? IcountInstructions);
