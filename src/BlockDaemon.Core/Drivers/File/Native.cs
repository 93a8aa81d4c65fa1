using System.Runtime.InteropServices;

namespace BlockDaemon.Core.Drivers.File;

/// <summary>The few Linux calls .NET does not expose: open with O_DIRECT, OFD locks, statx, SEEK_DATA, fallocate.</summary>
internal static unsafe partial class Native
{
    public const int ORdOnly = 0;
    public const int ORdWr = 2;
    public const int OCloExec = 0x80000;
    public const int EAcces = 13;
    public const int EPerm = 1;
    public const int ERofs = 30;
    public const int EInval = 22;
    public const int ENxio = 6;
    public const int EOpNotSupp = 95;
    public const int ENoSpc = 28;
    public const uint SyncFileRangeWrite = 2;
    public const int FOfdGetLk = 36;
    public const int FOfdSetLk = 37;
    public const short FRdLck = 0;
    public const short FWrLck = 1;
    public const short FUnLck = 2;
    public const int SeekData = 3;
    public const int SeekHole = 4;
    public const int FallocKeepSize = 0x01;
    public const int FallocPunchHole = 0x02;
    public const int FallocZeroRange = 0x10;

    // O_DIRECT differs between architectures; these are the Linux values.
    public static int ODirect => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x10000 : 0x4000;

    [StructLayout(LayoutKind.Sequential)]
    public struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Len;
        public int Pid;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int cmd, Flock* lockInfo);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    public static partial long Lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    public static partial int Fallocate(int fd, int mode, long offset, long length);

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    public static partial int SyncFileRange(int fd, long offset, long length, uint flags);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int Fdatasync(int fd);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>Bytes allocated on the host (st_blocks * 512), or null where statx is unavailable.</summary>
    public static long? AllocatedBytes(int fd)
    {
        const int atEmptyPath = 0x1000;
        const uint statxBlocks = 0x400;
        const int blocksOffset = 48;
        byte* buffer = stackalloc byte[256];
        if (Statx(fd, "", atEmptyPath, statxBlocks, buffer) != 0)
        {
            return null;
        }
        return *(long*)(buffer + blocksOffset) * 512;
    }

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
