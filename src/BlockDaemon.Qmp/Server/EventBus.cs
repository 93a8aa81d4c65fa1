using System.Text.Json.Nodes;

namespace BlockDaemon.Qmp.Server;

/// <summary>
/// Broadcasts QMP events to every negotiated session. Safe from any thread: data-plane events
/// (a write crossing a threshold) arrive on thread-pool threads.
/// </summary>
public sealed class EventBus
{
    // Guards _sessions; held only to copy or change the list.
    private readonly Lock _lock = new();
    private readonly List<QmpSession> _sessions = [];

    public void Register(QmpSession session)
    {
        lock (_lock)
        {
            _sessions.Add(session);
        }
    }

    public void Unregister(QmpSession session)
    {
        lock (_lock)
        {
            _sessions.Remove(session);
        }
    }

    public void Emit(string name, JsonObject? data)
    {
        long micros = (DateTimeOffset.UtcNow.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;
        QmpSession[] targets;
        lock (_lock)
        {
            targets = [.. _sessions];
        }
        foreach (var session in targets)
        {
            var message = new JsonObject
            {
                ["timestamp"] = new JsonObject { ["seconds"] = micros / 1_000_000, ["microseconds"] = micros % 1_000_000 },
                ["event"] = name,
            };
            if (data is not null)
            {
                message["data"] = data.DeepClone();
            }
            session.SendEvent(message);
        }
    }
}
