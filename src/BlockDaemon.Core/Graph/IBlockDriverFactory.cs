using BlockDaemon.Core.Io;

namespace BlockDaemon.Core.Graph;

/// <summary>Opens one kind of driver; registered with the graph by its blockdev-add name.</summary>
public interface IBlockDriverFactory
{
    string DriverName { get; }

    /// <summary>
    /// A format or filter driver whose image lives in a "file" child. QEMU opens that child
    /// before it names and registers the parent, and so do we: auto-generated names and the
    /// order of node listings then match qsd's.
    /// </summary>
    bool HasFileChild => false;

    /// <summary>
    /// Opens the driver for <see cref="DriverOpenContext.Node"/>. Children are opened through the
    /// context, so a failure undoes them. Errors are <see cref="Errors.BlockException"/> in qsd's words.
    /// </summary>
    ValueTask<IBlockDriver> OpenAsync(DriverOpenContext context, CancellationToken ct);
}
