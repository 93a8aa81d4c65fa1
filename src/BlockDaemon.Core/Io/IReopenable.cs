namespace BlockDaemon.Core.Io;

/// <summary>
/// A driver holding a host resource whose access mode is fixed when opened (a file descriptor):
/// it can switch between read-only and read-write while open. The graph drains the node first.
/// </summary>
public interface IReopenable
{
    ValueTask ReopenAsync(bool readOnly, CancellationToken ct);
}
