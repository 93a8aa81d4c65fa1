using System.Collections.Concurrent;
using BlockDaemon.Core.Events;

namespace BlockDaemon.TestKit;

/// <summary>Keeps every block-layer event, thread-safely, for assertions.</summary>
public sealed class RecordingEventSink : IBlockEventSink
{
    public ConcurrentQueue<WriteThresholdEvent> WriteThresholdEvents { get; } = new();

    public void WriteThresholdExceeded(string nodeName, long amountExceeded, long writeThreshold) =>
        WriteThresholdEvents.Enqueue(new WriteThresholdEvent(nodeName, amountExceeded, writeThreshold));

    public ConcurrentQueue<ImageCorruptedEvent> ImageCorruptedEvents { get; } = new();

    public void ImageCorrupted(string nodeName, string message, bool fatal) =>
        ImageCorruptedEvents.Enqueue(new ImageCorruptedEvent(nodeName, message, fatal));
}

public sealed record ImageCorruptedEvent(string NodeName, string Message, bool Fatal);
