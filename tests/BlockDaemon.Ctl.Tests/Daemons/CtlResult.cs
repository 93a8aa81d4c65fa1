namespace BlockDaemon.Ctl.Tests.Daemons;

/// <summary>How one blockctl run ended.</summary>
internal sealed record CtlResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}
