namespace BlockDaemon.ImageTool.Cli;

/// <summary>
/// A failure the tool reports as qemu-img does: "blockimg: MESSAGE" on stderr, then the exit
/// code. A usage error also points at --help, as qemu-img's error_exit does.
/// </summary>
public sealed class ToolException(string message, int exitCode = 1, bool usage = false) : Exception(message)
{
    public int ExitCode { get; } = exitCode;

    public bool Usage { get; } = usage;

    /// <summary>Lines printed after the error without the program name (QEMU's error hints).</summary>
    public string? Hint { get; init; }

    public static ToolException UsageError(string message) => new(message, 1, usage: true);
}
