namespace BlockDaemon.Ctl.Cli;

/// <summary>
/// Where blockctl reads and writes, so that tests can run it in-process with captured text:
/// stdin, stdout, stderr, and whether stdin and stderr are terminals (line editing, progress
/// redrawn in place) or pipes (plain lines).
/// </summary>
public sealed class CtlConsole(TextReader input, TextWriter output, TextWriter error, bool inputIsTerminal, bool errorIsTerminal)
{
    public TextReader In { get; } = input;

    public TextWriter Out { get; } = output;

    public TextWriter Error { get; } = error;

    public bool InputIsTerminal { get; } = inputIsTerminal;

    public bool ErrorIsTerminal { get; } = errorIsTerminal;

    /// <summary>Environment lookups go through here so tests need not change the process environment.</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    public static CtlConsole FromSystem() =>
        new(Console.In, Console.Out, Console.Error, !Console.IsInputRedirected, !Console.IsErrorRedirected);
}
