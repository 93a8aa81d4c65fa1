using BlockDaemon.Core.Errors;

namespace BlockDaemon.Qcow2;

/// <summary>The qcow2 driver's errors, as <see cref="BlockException"/>s in QEMU's words.</summary>
internal static class Qcow2Errors
{
    public static BlockException Invalid(string message) => new(BlockErrorKind.InvalidArgument, message);

    public static BlockException NotSupported(string message) => new(BlockErrorKind.NotSupported, message);

    public static BlockException Corrupt(string message) => new(BlockErrorKind.Corrupt, message);
}
