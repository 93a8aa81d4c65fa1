using System.Text;

namespace BlockDaemon.CommandLine;

/// <summary>
/// The command line is invalid. <see cref="Exception.Message"/> is exactly what qsd prints after
/// <c>qemu-storage-daemon: </c>; the host prints <c>blockd: {Message}</c>, then <see cref="Hint"/>
/// if present, and exits with status 1.
/// </summary>
public sealed class CommandLineException : Exception
{
    public CommandLineException(string? location, string detail, string? hint = null, IReadOnlyList<CommandLineWarning>? warnings = null)
        : base(location is null ? detail : location + ": " + detail)
    {
        Location = location;
        Detail = detail;
        Hint = hint;
        Warnings = warnings ?? [];
    }

    public CommandLineException()
        : this(null, "Invalid command line")
    {
    }

    public CommandLineException(string message)
        : this(null, message)
    {
    }

    public CommandLineException(string message, Exception innerException)
        : base(message, innerException)
    {
        Detail = message;
        Warnings = [];
    }

    /// <summary>
    /// The command-line words the error is about (<c>--blockdev a,,b</c>), or null for errors the
    /// option scanner reports (<c>unrecognized option '--foo'</c>), which qsd prints without one.
    /// </summary>
    public string? Location { get; }

    /// <summary>The message without the location prefix.</summary>
    public string Detail { get; }

    /// <summary>Lines qsd prints after the error line (no trailing newline), or null.</summary>
    public string? Hint { get; }

    /// <summary>Warnings qsd would have printed before this error, in order.</summary>
    public IReadOnlyList<CommandLineWarning> Warnings { get; }

    /// <summary>
    /// Everything qsd writes to stderr for this failure (warnings, the error line, the hint), with
    /// <paramref name="programName"/> in place of <c>qemu-storage-daemon</c>.
    /// </summary>
    public string Format(string programName)
    {
        var text = new StringBuilder();
        foreach (CommandLineWarning warning in Warnings)
        {
            text.Append(warning.Format(programName));
        }

        text.Append(programName).Append(": ").Append(Message).Append('\n');
        if (Hint is not null)
        {
            text.Append(Hint).Append('\n');
        }

        return text.ToString();
    }
}
