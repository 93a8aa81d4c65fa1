namespace BlockDaemon.Bench.QmpLatency;

/// <summary>Bad command line; reported with the usage text and exit code 2.</summary>
internal sealed class UsageException : Exception
{
    public UsageException(string message) : base(message) { }
}

/// <summary>
/// A benchmark could not be carried out (daemon missing, crashed, timed out, answered with an error).
/// The message is meant for the person running the bench and is printed as is; exit code 1.
/// </summary>
internal sealed class BenchException : Exception
{
    public BenchException(string message) : base(message) { }
    public BenchException(string message, Exception inner) : base(message, inner) { }
}
