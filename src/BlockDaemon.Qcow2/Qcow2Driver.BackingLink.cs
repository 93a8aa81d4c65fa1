using System.Text;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Qcow2.Format;

namespace BlockDaemon.Qcow2;

// The backing link as jobs change it: in memory (the graph drains the node around it) and in
// the header (QEMU's qcow2_change_backing_file).
public sealed partial class Qcow2Driver : IBackingLink
{
    void IBackingLink.ReplaceBacking(BlockChild? backing) => _backing = backing;

    async ValueTask IBackingLink.WriteBackingFileAsync(string? fileName, string? format, CancellationToken ct)
    {
        if (fileName is not null && Encoding.UTF8.GetByteCount(fileName) > Qcow2Header.MaxBackingNameLength)
        {
            throw TooLong();
        }
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_markedCorrupt)
            {
                throw Qcow2Errors.Corrupt("Image is corrupt; cannot be opened read/write");
            }
            var extensions = _header.Extensions.Where(e => e.Type != HeaderExtensionType.BackingFormat).ToList();
            if (fileName is not null && format is not null)
            {
                // QEMU puts the backing format first among the extensions it writes.
                extensions.Insert(0, new HeaderExtension(HeaderExtensionType.BackingFormat, Encoding.UTF8.GetBytes(format)));
            }
            var wanted = _header with { BackingFileName = fileName, Extensions = extensions };
            var cluster = new byte[_clusterSize];
            if (!wanted.TryWrite(cluster, out var written))
            {
                throw TooLong();
            }
            // Everything else in the image must be on disk before the header points elsewhere.
            await FlushMetadataAsync(ct).ConfigureAwait(false);
            await SyncFilesAsync(ct).ConfigureAwait(false);
            await _file.WriteAsync(0, cluster, WriteFlags.None, ct).ConfigureAwait(false);
            await _file.FlushAsync(ct).ConfigureAwait(false);
            _header = written;
        }
        finally
        {
            _lock.Release();
        }
    }

    // -EINVAL in QEMU's qcow2_change_backing_file, which change-backing-file reports by its text.
    private static BlockException TooLong() =>
        new(BlockErrorKind.InvalidArgument, "Backing file name too long") { Errno = Errno.EInval };
}
