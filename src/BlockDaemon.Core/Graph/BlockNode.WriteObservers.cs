namespace BlockDaemon.Core.Graph;

/// <summary>Receives the ranges written to a node (QEMU's write notifiers, after the write).</summary>
public interface IWriteObserver
{
    /// <summary>
    /// Called on the writer's thread once data, zeroes or a discard reached the node, while the
    /// request is still tracked: a drain of the node therefore sees every call finished.
    /// </summary>
    void Written(long offset, long length);
}

public sealed partial class BlockNode
{
    private IWriteObserver[] _writeObservers = [];

    /// <summary>Adds an observer (a job tracking guest writes); control loop only.</summary>
    public void AddWriteObserver(IWriteObserver observer) => _writeObservers = [.. _writeObservers, observer];

    public void RemoveWriteObserver(IWriteObserver observer) => _writeObservers = _writeObservers.Where(o => o != observer).ToArray();

    private void NotifyWritten(long offset, long length)
    {
        foreach (var observer in Volatile.Read(ref _writeObservers))
        {
            observer.Written(offset, length);
        }
    }
}
