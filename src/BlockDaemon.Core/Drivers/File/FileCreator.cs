using System.Runtime.InteropServices;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using Microsoft.Win32.SafeHandles;

namespace BlockDaemon.Core.Drivers.File;

/// <summary>
/// blockdev-create for the file driver, step by step as file-posix's raw_co_create: create (an
/// existing file is kept), lock as a writer that does not share resize, empty it, then give it its
/// size with the requested preallocation. Steps that qsd runs in its thread pool run on ours, so
/// errors before the first of them are reported before the command's reply, as in qsd.
/// </summary>
public static class FileCreator
{
    private const int OCreat = 0x40;
    private const int MaxBlockSize = 4096;

    public static async ValueTask CreateAsync(FileCreateOptions o, CancellationToken ct)
    {
        if (o.ExtentSizeHint > uint.MaxValue)
        {
            throw BlockException.Invalid("Extent size hint is too large");
        }
        int fd = Native.Open(o.Filename, Native.ORdWr | OCreat | Native.OCloExec, Convert.ToInt32("644", 8));
        if (fd < 0)
        {
            throw Errno($"Could not create '{o.Filename}'", Marshal.GetLastPInvokeError());
        }
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        // Closing the descriptor drops the locks.
        if (ImageLocks.Supported(fd))
        {
            new ImageLocks(fd).Prepare(BlockPermissions.Write | BlockPermissions.Resize, BlockPermissions.All & ~BlockPermissions.Resize,
                BlockPermissions.None, BlockPermissions.All);
        }
        // nocow and the extent size hint are optimisations whose failure QEMU ignores; blockd
        // does not apply them (see docs/architecture.md).
        await Task.Run(() => Resize(handle, fd, 0, PreallocMode.Off), ct).ConfigureAwait(false);
        await Task.Run(() => Resize(handle, fd, o.Size, o.Preallocation), ct).ConfigureAwait(false);
    }

    // handle_aiocb_truncate for a regular file.
    private static void Resize(SafeFileHandle handle, int fd, long size, PreallocMode mode)
    {
        long current = RandomAccess.GetLength(handle);
        if (current > size && mode != PreallocMode.Off)
        {
            throw new BlockException(BlockErrorKind.NotSupported, "Cannot use preallocation for shrinking files");
        }
        switch (mode)
        {
            case PreallocMode.Off:
                Truncate(fd, size);
                if (current == 0 && size > 0)
                {
                    AllocateFirstBlock(handle, size);
                }
                break;
            case PreallocMode.Falloc:
                if (size != current)
                {
                    int err = PosixFallocate(fd, current, size - current);
                    if (err != 0)
                    {
                        throw Errno("Could not preallocate new data", err);
                    }
                    if (current == 0)
                    {
                        AllocateFirstBlock(handle, size);
                    }
                }
                break;
            case PreallocMode.Full:
                Truncate(fd, size);
                var zeroes = new byte[65536];
                for (long at = current; at < size;)
                {
                    int n = (int)Math.Min(zeroes.Length, size - at);
                    RandomAccess.Write(handle, zeroes.AsSpan(0, n), at);
                    at += n;
                }
                RandomAccess.FlushToDisk(handle);
                break;
            default:
                throw new BlockException(BlockErrorKind.NotSupported, "Unsupported preallocation mode: metadata");
        }
    }

    private static void Truncate(int fd, long size)
    {
        if (Ftruncate(fd, size) != 0)
        {
            throw Errno("Could not resize file", Marshal.GetLastPInvokeError());
        }
    }

    // QEMU writes the first block of a file grown from nothing so that alignment probing finds
    // data there: 512 bytes when the file is smaller than 4 KiB (which may lengthen it), else 4 KiB.
    private static void AllocateFirstBlock(SafeFileHandle handle, long size) =>
        RandomAccess.Write(handle, new byte[size < MaxBlockSize ? 512 : MaxBlockSize], 0);

    private static BlockException Errno(string what, int errno) =>
        new(errno == Native.ENoSpc ? BlockErrorKind.NoSpace : BlockErrorKind.IoError, $"{what}: {Marshal.GetPInvokeErrorMessage(errno)}") { Errno = errno };

    [DllImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static extern int Ftruncate(int fd, long length);

    [DllImport("libc", EntryPoint = "posix_fallocate")]
    private static extern int PosixFallocate(int fd, long offset, long length);
}
