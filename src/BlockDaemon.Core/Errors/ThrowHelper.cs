using System.Diagnostics.CodeAnalysis;

namespace BlockDaemon.Core.Errors;

/// <summary>Throw sites kept out of hot paths so the callers stay small and inlinable.</summary>
public static class ThrowHelper
{
    [DoesNotReturn]
    public static void OutOfRange(string nodeName, long offset, long length, long size) =>
        throw new BlockException(BlockErrorKind.OutOfRange,
            $"Request at offset {offset} length {length} is beyond the end of node '{nodeName}' (size {size})");

    [DoesNotReturn]
    public static void ReadOnly(string nodeName) =>
        throw new BlockException(BlockErrorKind.ReadOnly, $"Node '{nodeName}' is read-only");

    [DoesNotReturn]
    public static void MissingPermission(string nodeName, string permission) =>
        throw new BlockException(BlockErrorKind.PermissionConflict,
            $"The user of node '{nodeName}' did not take the '{permission}' permission it needs for this request");
}
