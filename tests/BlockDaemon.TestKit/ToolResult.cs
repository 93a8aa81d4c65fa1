namespace BlockDaemon.TestKit;

/// <summary>How an external tool ended: its exit code and everything it printed.</summary>
public sealed record ToolResult(string CommandLine, int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() =>
        $"`{CommandLine}` exited with {ExitCode}\n--- stdout ---\n{Trim(Stdout)}\n--- stderr ---\n{Trim(Stderr)}";

    // A 250-op qemu-io run prints a line per op; the head and the tail are what explain a failure.
    private static string Trim(string text) =>
        text.Length <= 6000 ? text : text[..3000] + $"\n[... {text.Length - 6000} characters ...]\n" + text[^3000..];
}
