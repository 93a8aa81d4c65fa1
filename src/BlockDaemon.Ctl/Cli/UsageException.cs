namespace BlockDaemon.Ctl.Cli;

/// <summary>The command line of blockctl itself is wrong (exit code 2); nothing was sent.</summary>
public sealed class UsageException : Exception
{
    public UsageException()
    {
    }

    public UsageException(string message)
        : base(message)
    {
    }

    public UsageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
