namespace BlockDaemon.IoTests.Running;

/// <summary>
/// A step could not be carried out (a read timed out, no daemon to talk to, ...). The test
/// fails with this message whatever its output.
/// </summary>
public sealed class TranscriptFailureException : Exception
{
    public TranscriptFailureException()
    {
    }

    public TranscriptFailureException(string message)
        : base(message)
    {
    }

    public TranscriptFailureException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
