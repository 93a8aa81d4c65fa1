namespace BlockDaemon;

/// <summary>An option that could not be carried out; printed as "blockd: LOCATION: MESSAGE", exit 1.</summary>
internal sealed class StartupException : Exception
{
    public StartupException(string? location, string message)
        : base(message)
    {
        Location = location;
    }

    public StartupException()
    {
    }

    public StartupException(string message)
        : base(message)
    {
    }

    public StartupException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public string? Location { get; }

    public string Format() => Location is null ? $"blockd: {Message}" : $"blockd: {Location}: {Message}";
}
