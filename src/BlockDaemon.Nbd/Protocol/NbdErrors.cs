using BlockDaemon.Core.Errors;

namespace BlockDaemon.Nbd.Protocol;

/// <summary>
/// The one place block-layer errors become NBD errnos. Host errnos behind I/O errors are folded
/// into the few values the spec allows, as qemu's system_errno_to_nbd_errno does.
/// </summary>
public static class NbdErrors
{
    public static uint ToErrno(Exception error) => error switch
    {
        BlockException block => ToErrno(block),
        OperationCanceledException => NbdErrno.EShutdown,
        OutOfMemoryException => NbdErrno.ENoMem,
        _ => NbdErrno.EIo,
    };

    public static uint ToErrno(BlockException error) => error.Kind switch
    {
        BlockErrorKind.InvalidArgument => NbdErrno.EInval,
        BlockErrorKind.OutOfRange => NbdErrno.EInval,
        BlockErrorKind.ReadOnly => NbdErrno.EPerm,
        BlockErrorKind.PermissionConflict => NbdErrno.EPerm,
        BlockErrorKind.NotSupported => NbdErrno.ENotSup,
        BlockErrorKind.NoSpace => NbdErrno.ENoSpc,
        BlockErrorKind.Cancelled => NbdErrno.EShutdown,
        BlockErrorKind.IoError when error.Errno != 0 => FromHostErrno(error.Errno),
        _ => NbdErrno.EIo,
    };

    /// <summary>Linux errno → NBD errno (qemu's table: anything unlisted becomes EINVAL).</summary>
    public static uint FromHostErrno(int errno) => errno switch
    {
        1 or 30 => NbdErrno.EPerm,          // EPERM, EROFS
        5 => NbdErrno.EIo,                  // EIO
        12 => NbdErrno.ENoMem,              // ENOMEM
        27 or 28 or 122 => NbdErrno.ENoSpc, // EFBIG, ENOSPC, EDQUOT
        75 => NbdErrno.EOverflow,           // EOVERFLOW
        95 => NbdErrno.ENotSup,             // ENOTSUP/EOPNOTSUPP
        108 => NbdErrno.EShutdown,          // ESHUTDOWN
        _ => NbdErrno.EInval,
    };
}
