namespace BlockDaemon.Qmp;

/// <summary>An error reply: its class and its text (qsd's text where qsd has one).</summary>
public sealed class QmpException : Exception
{
    public QmpException(QmpErrorClass errorClass, string message)
        : base(message)
    {
        ErrorClass = errorClass;
    }

    public QmpException()
    {
    }

    public QmpException(string message)
        : base(message)
    {
    }

    public QmpException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public QmpErrorClass ErrorClass { get; }

    public static QmpException Generic(string message) => new(QmpErrorClass.GenericError, message);
}
