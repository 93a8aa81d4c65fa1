namespace BlockDaemon.Core.Io;

/// <summary>
/// A filter driver (QEMU's is_filter): it passes its one child's data through with some
/// behaviour added, so it can never be the overlay of an external snapshot.
/// </summary>
public interface IFilterDriver;
