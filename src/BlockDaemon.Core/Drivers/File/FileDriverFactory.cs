using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using Microsoft.Win32.SafeHandles;

namespace BlockDaemon.Core.Drivers.File;

/// <summary>file: a host file, opened once, read and written with positional I/O.</summary>
public sealed class FileDriverFactory : IBlockDriverFactory
{
    public string DriverName => "file";

    public ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct)
    {
        var options = context.Options;
        var node = context.Node;
        string filename = options.GetRequiredString("filename");
        if (filename.Length == 0)
        {
            throw BlockException.Invalid("The 'file' block driver requires a file name");
        }
        string aio = options.GetString("aio") ?? "threads";
        string locking = options.GetString("locking") ?? "auto";
        if (options.GetString("pr-manager") is { } manager)
        {
            throw BlockException.Invalid($"No persistent reservation manager with id '{manager}'");
        }
        if (aio == "native" && !node.Common.CacheDirect)
        {
            throw BlockException.Invalid("aio=native was specified, but it requires cache.direct=on, which was not specified.");
        }
        if ((options.GetInt64("aio-max-batch") ?? 0) < 0)
        {
            throw BlockException.Invalid("aio-max-batch must be a positive integer");
        }

        int fd = OpenFile(filename, node, out bool readOnly);
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            ImageLocks? locks = null;
            if (locking == "on" || (locking == "auto" && ImageLocks.Supported(fd)))
            {
                if (!ImageLocks.Supported(fd))
                {
                    throw BlockException.Invalid("Cannot use locking=on: the file system does not support OFD locks");
                }
                locks = new ImageLocks(fd);
            }
            node.ReadOnly = readOnly;
            int alignment = node.Common.CacheDirect ? ProbeDirectAlignment(handle) : 1;
            return ValueTask.FromResult<IBlockDriver>(new FileDriver(handle, filename, locks, alignment));
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static int OpenFile(string filename, BlockNode node, out bool readOnly)
    {
        int flags = Native.OCloExec | (node.Common.CacheDirect ? Native.ODirect : 0);
        readOnly = node.Common.ReadOnly;
        int fd = Native.Open(filename, flags | (readOnly ? Native.ORdOnly : Native.ORdWr), 0);
        int errno = fd < 0 ? System.Runtime.InteropServices.Marshal.GetLastPInvokeError() : 0;
        if (fd < 0 && !readOnly && node.Common.AutoReadOnly && errno is Native.EAcces or Native.EPerm or Native.ERofs)
        {
            // auto-read-only: a file we may not write is opened read-only instead of failing.
            readOnly = true;
            fd = Native.Open(filename, flags | Native.ORdOnly, 0);
            errno = fd < 0 ? System.Runtime.InteropServices.Marshal.GetLastPInvokeError() : 0;
        }
        if (fd < 0)
        {
            throw new BlockException(BlockErrorKind.IoError, $"Could not open '{filename}': {Native.ErrorText(errno)}") { Errno = errno };
        }
        return fd;
    }

    // O_DIRECT needs offsets and lengths aligned to the device's logical block: try 512, else 4096.
    private static int ProbeDirectAlignment(SafeFileHandle handle)
    {
        using var buffer = AlignedBufferPool.Rent(512);
        try
        {
            RandomAccess.Read(handle, buffer.Memory.Span, 0);
            return 512;
        }
        catch (IOException)
        {
            return AlignedBuffer.Alignment;
        }
    }
}
