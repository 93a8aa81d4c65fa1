namespace BlockDaemon.Core.Io;

/// <summary>
/// A job's own filter (QEMU's never_freeze: commit_top, mirror_top): the job must always be able
/// to drop it, so no chain link pointing at it may be frozen.
/// </summary>
public interface INeverFrozen
{
}
