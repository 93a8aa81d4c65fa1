namespace BlockDaemon.CommandLine.Getopt;

/// <summary>What the option scanner found next, in command-line order.</summary>
internal abstract record GetoptEvent;

/// <summary>
/// A recognised option. <paramref name="Location"/> joins the words it spans
/// (<c>--blockdev x</c>, <c>--blockdev=x</c>, <c>-Tx</c>), which is how qsd names it in errors.
/// </summary>
internal sealed record OptionEvent(OptionKind Kind, string? Argument, string Location) : GetoptEvent;

/// <summary>A word that is not an option; qsd rejects it with "Unexpected argument".</summary>
internal sealed record NonOptionEvent(string Argument) : GetoptEvent;

/// <summary>A scanning error with glibc getopt's message (printed without a location).</summary>
internal sealed record ScanErrorEvent(string Message) : GetoptEvent;
