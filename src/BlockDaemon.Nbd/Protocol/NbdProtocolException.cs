using System.Diagnostics.CodeAnalysis;

namespace BlockDaemon.Nbd.Protocol;

/// <summary>
/// The peer broke the protocol in a way that leaves the byte stream unusable (bad magic, unknown
/// client flags, an option too big to skip). Unlike a bad request, which gets an error reply,
/// this closes the connection — that connection only.
/// </summary>
public sealed class NbdProtocolException : Exception
{
    public NbdProtocolException(string message)
        : base(message)
    {
    }

    [DoesNotReturn]
    public static void Throw(string message) => throw new NbdProtocolException(message);
}
