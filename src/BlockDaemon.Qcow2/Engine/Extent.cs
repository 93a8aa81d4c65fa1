namespace BlockDaemon.Qcow2.Engine;

internal enum ExtentKind
{
    /// <summary>Stored in this image at <see cref="Extent.HostOffset"/>.</summary>
    Data,
    /// <summary>Reads as zeroes (zero flag or zero subcluster).</summary>
    Zero,
    /// <summary>Not in this image: read from the backing chain, or zeroes without one.</summary>
    Unallocated,
    /// <summary>Inside a compressed cluster described by <see cref="Extent.Entry"/>.</summary>
    Compressed,
}

/// <summary>A run of guest bytes with one kind of storage.</summary>
internal record struct Extent(ExtentKind Kind, long GuestOffset, long Length, ulong HostOffset, ulong Entry);
