namespace BlockDaemon.Qcow2.Tests.Malformed;

/// <summary>
/// One malformed qcow2 image: how to build it from a fresh qemu-img image, what qsd 7.2 does
/// with it (recorded by <see cref="QsdRecorder"/>), and what blockd must do.
/// </summary>
/// <remarks>
/// Messages may contain <c>$DIR</c>, the directory the image was built in, so that recorded
/// texts do not depend on where the temp directory was.
/// </remarks>
internal sealed record MalformedImage
{
    /// <summary>Marks <see cref="OursRefuses"/> as "qsd's open error, word for word".</summary>
    public const string SameAsQsd = "(same as qsd)";

    public const string QsdOpenFails = "open fails: ";

    public required string Name { get; init; }

    /// <summary>What was changed in the image qemu-img made, in words.</summary>
    public required string Patch { get; init; }

    /// <summary>Builds the image in the workspace and returns the image to open (the top of a chain).</summary>
    public required Func<ImageWorkspace, CancellationToken, Task<ImageEditor>> Build { get; init; }

    /// <summary>Open with read-only=on (qemu-io -r) instead of read-write.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>The guest range read after opening (qemu-io <c>read 0 64k</c>).</summary>
    public (long Offset, int Length) Read { get; init; } = (0, 64 << 10);

    /// <summary>The guest range written with 0xa5 after opening: by default the first cluster (allocated) and the second (not).</summary>
    public (long Offset, int Length) Write { get; init; } = (0, 128 << 10);

    /// <summary>What qsd 7.2 did, as <see cref="QsdRecorder"/> words it.</summary>
    public required string Qsd { get; init; }

    /// <summary>
    /// The error blockd's open must fail with, <see cref="SameAsQsd"/> for qsd's own, or null when
    /// blockd opens the image (then a read and a write must succeed or fail with a BlockException).
    /// </summary>
    public string? OursRefuses { get; init; }

    /// <summary>
    /// The error comes from opening the backing chain: blockd's message may carry any number (at
    /// least one) of "Could not open backing file: " prefixes, one per level, before <see cref="OursRefuses"/>.
    /// </summary>
    public bool InBackingChain { get; init; }

    /// <summary>Blockd's write must fail with a BlockException (the image opens, but writing would do harm).</summary>
    public bool OursWriteFails { get; init; }

    /// <summary>Why blockd does not do what qsd does, when it does not.</summary>
    public string? Why { get; init; }

    /// <summary>
    /// A check of the image after blockd read and wrote it; returns what is wrong, or null. Gets
    /// the image and a copy of the whole image file from before the I/O.
    /// </summary>
    public Func<ImageEditor, byte[], string?>? AfterIo { get; init; }

    /// <summary>The open error blockd must report, with $DIR replaced; null when the image opens.</summary>
    public string? ExpectedOpenError(string directory)
    {
        if (OursRefuses is null)
        {
            return null;
        }
        string message = OursRefuses;
        if (message == SameAsQsd)
        {
            if (!Qsd.StartsWith(QsdOpenFails, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{Name}: qsd did not refuse the image, so there is no message to copy");
            }
            message = Qsd[QsdOpenFails.Length..];
        }
        return message.Replace("$DIR", directory, StringComparison.Ordinal);
    }

    public override string ToString() => Name;
}
