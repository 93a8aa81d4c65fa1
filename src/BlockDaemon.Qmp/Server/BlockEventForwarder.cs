using System.Text.Json.Nodes;
using BlockDaemon.Core.Events;

namespace BlockDaemon.Qmp.Server;

/// <summary>Turns block-layer events into QMP events.</summary>
public sealed class BlockEventForwarder(EventBus bus) : IBlockEventSink
{
    public void WriteThresholdExceeded(string nodeName, long amountExceeded, long writeThreshold) =>
        bus.Emit("BLOCK_WRITE_THRESHOLD", new JsonObject
        {
            ["node-name"] = nodeName,
            ["amount-exceeded"] = amountExceeded,
            ["write-threshold"] = writeThreshold,
        });

    // A node has no device name in a storage daemon: qsd sends "" for it, and so do we.
    public void ImageCorrupted(string nodeName, string message, bool fatal) =>
        bus.Emit("BLOCK_IMAGE_CORRUPTED", new JsonObject
        {
            ["device"] = "",
            ["node-name"] = nodeName,
            ["msg"] = message,
            ["fatal"] = fatal,
        });
}
