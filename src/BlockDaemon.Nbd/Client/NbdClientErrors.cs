using BlockDaemon.Core.Errors;
using BlockDaemon.Nbd.Protocol;

namespace BlockDaemon.Nbd.Client;

/// <summary>NBD errnos from a reply, back into block-layer errors (qemu's nbd_errno_to_system_errno).</summary>
internal static class NbdClientErrors
{
    public static BlockException FromReply(uint errno, string? message, string operation)
    {
        var (kind, text, host) = errno switch
        {
            NbdErrno.EPerm => (BlockErrorKind.ReadOnly, "Operation not permitted", 1),
            NbdErrno.ENoMem => (BlockErrorKind.IoError, "Cannot allocate memory", 12),
            NbdErrno.EInval => (BlockErrorKind.InvalidArgument, "Invalid argument", 22),
            NbdErrno.ENoSpc => (BlockErrorKind.NoSpace, "No space left on device", 28),
            NbdErrno.EOverflow => (BlockErrorKind.OutOfRange, "Value too large for defined data type", 75),
            NbdErrno.ENotSup => (BlockErrorKind.NotSupported, "Operation not supported", 95),
            NbdErrno.EShutdown => (BlockErrorKind.IoError, "Cannot send after transport endpoint shutdown", 108),
            _ => (BlockErrorKind.IoError, "Input/output error", 5),
        };
        string detail = string.IsNullOrEmpty(message) ? text : $"{text} (server: {message})";
        return new BlockException(kind, $"NBD {operation} failed: {detail}") { Errno = host };
    }

    /// <summary>Requests on a lost connection fail with EIO, as qemu's do once reconnect-delay has passed.</summary>
    public static BlockException ConnectionLost(string reason) =>
        new(BlockErrorKind.IoError, $"NBD connection lost: {reason}") { Errno = 5 };
}
