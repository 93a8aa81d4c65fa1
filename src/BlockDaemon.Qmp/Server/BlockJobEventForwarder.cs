using System.Text.Json.Nodes;
using BlockDaemon.Jobs.BlockJobs;

namespace BlockDaemon.Qmp.Server;

/// <summary>Turns block jobs' events into BLOCK_JOB_* QMP events, with qsd's members.</summary>
public sealed class BlockJobEventForwarder(EventBus bus) : IBlockJobEvents
{
    public void Completed(BlockJobSnapshot job, string? error)
    {
        var data = Describe(job);
        if (error is not null)
        {
            data["error"] = error;
        }
        bus.Emit("BLOCK_JOB_COMPLETED", data);
    }

    public void Cancelled(BlockJobSnapshot job) => bus.Emit("BLOCK_JOB_CANCELLED", Describe(job));

    public void Ready(BlockJobSnapshot job) => bus.Emit("BLOCK_JOB_READY", Describe(job));

    public void Pending(string type, string id) => bus.Emit("BLOCK_JOB_PENDING", new JsonObject
    {
        ["type"] = type,
        ["id"] = id,
    });

    public void Error(string device, bool read, BlockErrorAction action) => bus.Emit("BLOCK_JOB_ERROR", new JsonObject
    {
        ["device"] = device,
        ["operation"] = read ? "read" : "write",
        ["action"] = action switch
        {
            BlockErrorAction.Ignore => "ignore",
            BlockErrorAction.Report => "report",
            _ => "stop",
        },
    });

    private static JsonObject Describe(BlockJobSnapshot job) => new()
    {
        ["type"] = job.Type,
        ["device"] = job.Device,
        ["len"] = job.Len,
        ["offset"] = job.Offset,
        ["speed"] = job.Speed,
    };
}
