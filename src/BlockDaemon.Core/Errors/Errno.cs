using System.Runtime.InteropServices;

namespace BlockDaemon.Core.Errors;

/// <summary>The errno values QEMU's messages quote, and their text (strerror) for messages in qsd's words.</summary>
public static class Errno
{
    public const int EPerm = 1;
    public const int ENoEnt = 2;
    public const int EIo = 5;
    public const int EFBig = 27;
    public const int EInval = 22;
    public const int ENotSup = 95;

    public static string Text(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
