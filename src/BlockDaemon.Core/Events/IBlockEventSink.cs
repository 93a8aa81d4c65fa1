namespace BlockDaemon.Core.Events;

/// <summary>
/// Events the block layer raises; the QMP layer turns them into QMP events. Implementations must
/// be thread-safe: data-plane events (a write crossing a threshold) arrive on any thread.
/// </summary>
public interface IBlockEventSink
{
    void WriteThresholdExceeded(string nodeName, long amountExceeded, long writeThreshold);

    /// <summary>A format driver found its image inconsistent; fatal when the node was writable and is now refused writes.</summary>
    void ImageCorrupted(string nodeName, string message, bool fatal);
}

/// <summary>A sink that drops everything, for tests and tools without a monitor.</summary>
public sealed class NullBlockEventSink : IBlockEventSink
{
    public static readonly NullBlockEventSink Instance = new();

    public void WriteThresholdExceeded(string nodeName, long amountExceeded, long writeThreshold)
    {
    }

    public void ImageCorrupted(string nodeName, string message, bool fatal)
    {
    }
}
