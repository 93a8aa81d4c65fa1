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
}
