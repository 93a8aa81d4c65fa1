using System.Text.Json.Nodes;

namespace BlockDaemon.Ctl.Qmp;

/// <summary>One asynchronous event as the daemon sent it: name, data (an empty object when absent), time and the whole message.</summary>
public sealed record QmpEvent(string Name, JsonObject Data, DateTimeOffset Timestamp, JsonObject Message)
{
    public static QmpEvent FromMessage(JsonObject message)
    {
        string name = message["event"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? message["event"]!.GetValue<string>() : "";
        var data = message["data"] as JsonObject ?? [];
        var timestamp = DateTimeOffset.UnixEpoch;
        if (message["timestamp"] is JsonObject time
            && time["seconds"] is JsonValue seconds && seconds.TryGetValue(out long s)
            && time["microseconds"] is JsonValue micros && micros.TryGetValue(out long us))
        {
            timestamp = DateTimeOffset.FromUnixTimeSeconds(s).AddTicks(us * 10);
        }
        return new QmpEvent(name, data, timestamp, message);
    }

    /// <summary>A string member of the data, or null.</summary>
    public string? DataString(string member) =>
        Data[member] is JsonValue value && value.TryGetValue(out string? text) ? text : null;
}
