namespace BlockDaemon.Core.Drivers.File;

/// <summary>How a new image allocates its space (QEMU's PreallocMode).</summary>
public enum PreallocMode
{
    Off,
    Metadata,
    Falloc,
    Full,
}

/// <summary>BlockdevCreateOptionsFile, in the block layer's terms.</summary>
public sealed record FileCreateOptions
{
    public required string Filename { get; init; }

    /// <summary>The size as the client sent it; QMP's uint64 lets a negative value through, which the host refuses.</summary>
    public required long Size { get; init; }
    public PreallocMode Preallocation { get; init; }
    public bool NoCow { get; init; }

    /// <summary>Null when not given (QEMU's default is 1 MiB).</summary>
    public ulong? ExtentSizeHint { get; init; }
}
