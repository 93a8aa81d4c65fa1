namespace BlockDaemon.CommandLine;

/// <summary>
/// One option of the command line. qsd acts on options strictly in command-line order (so an
/// option may only refer to things defined before it), and so must the host.
/// </summary>
public abstract record DaemonOption
{
    /// <summary>
    /// The command-line words of this option exactly as qsd quotes them in its messages:
    /// <c>--blockdev driver=file,...</c>, <c>--blockdev=driver=file,...</c>, <c>-Tpattern</c>.
    /// Errors the host reports while executing the option are prefixed with <c>{Location}: </c>.
    /// </summary>
    public string Location { get; init; } = "";

    /// <summary>Warnings to print (in order) just before the option takes effect.</summary>
    public IReadOnlyList<CommandLineWarning> Warnings { get; init; } = [];
}
