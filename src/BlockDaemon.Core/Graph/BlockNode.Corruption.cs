using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Graph;

// Run-time corruption handling, as QEMU's qcow2_signal_corruption: the first inconsistency a
// format driver detects is reported once (BLOCK_IMAGE_CORRUPTED); on a writable node it is
// fatal: the image is marked corrupt and the node refuses every further write, so a damaged
// mapping can never be used to overwrite good data.
public sealed partial class BlockNode
{
    private const string SignalledKey = "blockd.corruption-signalled";
    private int _corruptionSignalled;
    private volatile bool _corrupted;

    /// <summary>A fatal inconsistency was found: the node serves reads but refuses writes.</summary>
    public bool Corrupted => _corrupted;

    private bool IsUnsignalledCorruption(BlockException e) =>
        e.Kind == BlockErrorKind.Corrupt && Driver is IImageCorruptionMarker && !e.Data.Contains(SignalledKey);

    private async ValueTask SignalCorruptionAsync(BlockException e)
    {
        // A parent passing the same exception up must not report it again.
        e.Data[SignalledKey] = true;
        if (Interlocked.Exchange(ref _corruptionSignalled, 1) != 0)
        {
            return;
        }
        bool fatal = !ReadOnly;
        if (fatal)
        {
            _corrupted = true;
            try
            {
                await ((IImageCorruptionMarker)Driver).MarkCorruptAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (BlockException)
            {
                // The mark is best effort: the node refuses writes whether or not it reached the disk.
            }
        }
        Graph.Events.ImageCorrupted(NodeName, e.Message, fatal);
    }

    private void CheckNotCorrupted()
    {
        if (_corrupted)
        {
            throw new BlockException(BlockErrorKind.ReadOnly,
                $"Node '{NodeName}' was found corrupt and switched to read-only; 'qemu-img check -r all' repairs the image");
        }
    }
}
