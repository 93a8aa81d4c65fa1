using System.Text;

namespace BlockDaemon.CommandLine;

/// <summary>
/// A warning qsd prints while it processes an option, e.g. the deprecation notice for the
/// short-form boolean <c>server</c> in <c>--chardev socket,id=c,server</c>.
/// </summary>
/// <param name="Location">The command-line words of the option, as qsd names them (e.g. <c>--chardev socket,id=c,server</c>).</param>
/// <param name="Message">The warning text without the <c>warning: </c> prefix.</param>
/// <param name="Hint">Lines printed verbatim after the warning, or null.</param>
public sealed record CommandLineWarning(string Location, string Message, string? Hint)
{
    /// <summary>
    /// The exact stderr text qsd prints for this warning, with <paramref name="programName"/> in
    /// place of <c>qemu-storage-daemon</c>; every line ends with a newline.
    /// </summary>
    public string Format(string programName)
    {
        var text = new StringBuilder();
        text.Append(programName).Append(": ").Append(Location).Append(": warning: ").Append(Message).Append('\n');
        if (Hint is not null)
        {
            text.Append(Hint).Append('\n');
        }

        return text.ToString();
    }
}
