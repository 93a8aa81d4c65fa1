namespace BlockDaemon.QemuJson;

/// <summary>A JSON text QEMU's parser would refuse; the message is QEMU's.</summary>
public sealed class QemuJsonException : Exception
{
    public QemuJsonException(string message)
        : base(message)
    {
    }

    public QemuJsonException()
    {
    }

    public QemuJsonException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
