using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using Microsoft.Win32.SafeHandles;

namespace BlockDaemon.Core.Drivers.File;

// Switching between read-only and read-write opens the file again with the other mode and
// moves the image locks to the new descriptor. OFD locks of two descriptors conflict even in
// one process, so the old descriptor lets go first; if the new one cannot take them (another
// process got in between), the old one takes them back and the reopen fails.
public sealed partial class FileDriver : IReopenable
{
    public ValueTask ReopenAsync(bool readOnly, CancellationToken ct)
    {
        int flags = Native.OCloExec | (Direct ? Native.ODirect : 0) | (readOnly ? Native.ORdOnly : Native.ORdWr);
        int fd = Native.Open(DisplayName, flags, 0);
        if (fd < 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            throw new BlockException(BlockErrorKind.IoError, $"Could not reopen file: {Native.ErrorText(errno)}") { Errno = errno };
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        ImageLocks? locks = null;
        try
        {
            if (_locks is not null)
            {
                _locks.Commit(BlockPermissions.None, BlockPermissions.All);
                locks = new ImageLocks(fd);
                locks.Prepare(_perm, _shared, BlockPermissions.None, BlockPermissions.All);
                locks.Commit(_perm, _shared);
            }
        }
        catch
        {
            handle.Dispose();
            _locks?.Prepare(_perm, _shared, BlockPermissions.None, BlockPermissions.All);
            _locks?.Commit(_perm, _shared);
            throw;
        }
        var old = _handle;
        _handle = handle;
        _fd = fd;
        // The next flush goes to the new descriptor whatever the old one had flushed.
        Written();
        _locks = locks;
        old.Dispose();
        return ValueTask.CompletedTask;
    }
}
