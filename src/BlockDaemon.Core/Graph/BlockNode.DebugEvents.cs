using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Graph;

// The debug events the generic path raises (QEMU's io.c), for a blkdebug node to act on:
// write steps on the node itself, flush steps on its primary child.
public sealed partial class BlockNode
{
    // Completed writes, and the count the last successful flush covered: a flush only goes
    // "to disk" (flush_to_disk) when something was written since, as QEMU's write_gen.
    private long _writeGeneration;
    private long _flushedGeneration;

    private void NoteWritten() => Interlocked.Increment(ref _writeGeneration);

    private void NoteFlushed(long generation)
    {
        long seen;
        do
        {
            seen = Interlocked.Read(ref _flushedGeneration);
        }
        while (seen < generation && Interlocked.CompareExchange(ref _flushedGeneration, generation, seen) != seen);
    }

    // flush_to_os on every flush of a writable node, flush_to_disk only when it has unflushed
    // writes; both on the primary child (file, or a filter's image). Returns the generation
    // this flush covers.
    private long RaiseFlushEvents(bool toDisk)
    {
        long generation = Interlocked.Read(ref _writeGeneration);
        if (ReadOnly || PrimaryChild() is not { } primary || primary.Node.Driver is not IDebugEventTarget)
        {
            return generation;
        }
        primary.RaiseDebugEvent(DebugEvent.FlushToOs);
        if (toDisk && generation != Interlocked.Read(ref _flushedGeneration))
        {
            primary.RaiseDebugEvent(DebugEvent.FlushToDisk);
        }
        return generation;
    }

    private BlockChild? PrimaryChild()
    {
        // Indexed: the list only changes with the node drained, but a stale read is harmless here.
        var children = Children;
        for (int i = 0; i < children.Count; i++)
        {
            if (children[i] is { Role: "file" or "image" } child)
            {
                return child;
            }
        }
        return null;
    }

    // The generic path announces its own write steps to the node's driver (pwritev,
    // pwritev_zero, pwritev_done, the read-modify-write reads); only blkdebug listens.
    private void RaiseOwnDebugEvent(DebugEvent debugEvent)
    {
        if (Driver is IDebugEventTarget target)
        {
            target.OnDebugEvent(debugEvent);
        }
    }
}
