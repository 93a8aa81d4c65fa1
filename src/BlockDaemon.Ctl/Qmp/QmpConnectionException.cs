namespace BlockDaemon.Ctl.Qmp;

/// <summary>The monitor could not be reached, did not speak QMP, or hung up: a connection error, unlike a command's error reply.</summary>
public sealed class QmpConnectionException : Exception
{
    public QmpConnectionException()
    {
    }

    public QmpConnectionException(string message)
        : base(message)
    {
    }

    public QmpConnectionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
