namespace BlockDaemon.IoTests.Transcript;

/// <summary>A .qmp file that cannot be parsed or a step whose text is malformed.</summary>
public sealed class TranscriptFormatException : Exception
{
    public TranscriptFormatException()
    {
    }

    public TranscriptFormatException(string message)
        : base(message)
    {
    }

    public TranscriptFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public static TranscriptFormatException AtLine(int line, string message) => new($"line {line}: {message}");
}
