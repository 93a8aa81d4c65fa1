namespace BlockDaemon.Core.Io;

/// <summary>A driver's capabilities, declared once; the generic path emulates what is missing.</summary>
public sealed record DriverLimits
{
    public static readonly DriverLimits Default = new();

    /// <summary>Offsets and lengths the driver accepts must be multiples of this (power of two).</summary>
    public int RequestAlignment { get; init; } = 1;

    /// <summary>Largest single request; larger ones are split.</summary>
    public int MaxTransfer { get; init; } = 32 << 20;

    /// <summary>The driver honours <see cref="WriteFlags.Fua"/> itself (otherwise: write then flush).</summary>
    public bool SupportsFua { get; init; }

    /// <summary>The driver has an efficient write-zeroes (otherwise: writes of zero buffers).</summary>
    public bool SupportsWriteZeroes { get; init; }

    /// <summary>The driver can discard (otherwise discard is a no-op, as it is advisory).</summary>
    public bool SupportsDiscard { get; init; }

    /// <summary>The driver can store data compressed (<see cref="WriteFlags.Compressed"/>).</summary>
    public bool SupportsCompressedWrites { get; init; }

    /// <summary>The driver can change its size.</summary>
    public bool SupportsTruncate { get; init; }
}
