namespace BlockDaemon.Core.Errors;

/// <summary>
/// What went wrong, independent of the protocol that reports it. QMP maps every kind to a
/// QMP error class (almost always GenericError, as qsd does); NBD maps it to an errno.
/// </summary>
public enum BlockErrorKind
{
    /// <summary>A caller passed an argument that cannot be honoured.</summary>
    InvalidArgument,
    /// <summary>A named node, device or object does not exist.</summary>
    NotFound,
    /// <summary>The object exists but is used by someone else.</summary>
    Busy,
    /// <summary>A permission or lock conflict between users of a node.</summary>
    PermissionConflict,
    /// <summary>A write (or resize) on something opened read-only.</summary>
    ReadOnly,
    /// <summary>A request outside the node's size.</summary>
    OutOfRange,
    /// <summary>The operation is not supported by this driver or node.</summary>
    NotSupported,
    /// <summary>The host reported an I/O error.</summary>
    IoError,
    /// <summary>The host ran out of space.</summary>
    NoSpace,
    /// <summary>The image's on-disk data is invalid.</summary>
    Corrupt,
    /// <summary>The operation was cancelled.</summary>
    Cancelled,
}
