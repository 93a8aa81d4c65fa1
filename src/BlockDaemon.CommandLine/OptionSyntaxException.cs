using System.Diagnostics.CodeAnalysis;

namespace BlockDaemon.CommandLine;

/// <summary>
/// A malformed option argument, before the parser knows which command-line words it came from.
/// The option layer wraps it into a <see cref="CommandLineException"/> carrying the location,
/// so the low-level parsers (keyval, QemuOpts, JSON) stay free of command-line concerns.
/// </summary>
internal sealed class OptionSyntaxException : Exception
{
    public OptionSyntaxException(string message, string? hint = null)
        : base(message)
    {
        Hint = hint;
    }

    public OptionSyntaxException()
    {
    }

    public OptionSyntaxException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Extra lines qsd prints after the error (error_append_hint), without a trailing newline.</summary>
    public string? Hint { get; }

    [DoesNotReturn]
    public static void Throw(string message, string? hint = null) =>
        throw new OptionSyntaxException(message, hint);
}
