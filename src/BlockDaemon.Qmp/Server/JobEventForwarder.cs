using System.Text.Json.Nodes;
using BlockDaemon.Core.Jobs;

namespace BlockDaemon.Qmp.Server;

/// <summary>Turns the job engine's state changes into JOB_STATUS_CHANGE events.</summary>
public sealed class JobEventForwarder(EventBus bus) : IJobEventSink
{
    public void StatusChanged(string id, JobStatus status) =>
        bus.Emit("JOB_STATUS_CHANGE", new JsonObject
        {
            ["id"] = id,
            ["status"] = status.ToQapi(),
        });
}
