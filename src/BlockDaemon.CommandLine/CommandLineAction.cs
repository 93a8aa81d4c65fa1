namespace BlockDaemon.CommandLine;

/// <summary>What the host should do after parsing.</summary>
public enum CommandLineAction
{
    /// <summary>Start the daemon and process <see cref="DaemonCommandLine.Options"/> in order.</summary>
    Run,

    /// <summary>Print <see cref="HelpText.Render"/> to stdout and exit 0 (<c>-h</c>, <c>--help</c>).</summary>
    Help,

    /// <summary>Print the version to stdout and exit 0 (<c>-V</c>, <c>--version</c>).</summary>
    Version,
}
