namespace BlockDaemon.Core.Io;

/// <summary>
/// A driver that listens to the debug events its parents raise on it (blkdebug). Called on the
/// data plane, from any thread, before the request the event announces reaches the driver.
/// </summary>
public interface IDebugEventTarget
{
    void OnDebugEvent(DebugEvent debugEvent);
}
