using System.Text.Json;

namespace BlockDaemon.Qcow2.Tests.Interop;

/// <summary>One extent of `qemu-img map --output=json`: the merged view of the whole backing chain.</summary>
internal readonly record struct MapExtent(long Start, long Length, int Depth, bool Present, bool Zero, bool Data)
{
    public long End => Start + Length;

    public static IReadOnlyList<MapExtent> ParseJson(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var list = new List<MapExtent>();
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            list.Add(new MapExtent(
                e.GetProperty("start").GetInt64(),
                e.GetProperty("length").GetInt64(),
                e.GetProperty("depth").GetInt32(),
                e.TryGetProperty("present", out var present) && present.GetBoolean(),
                e.GetProperty("zero").GetBoolean(),
                e.GetProperty("data").GetBoolean()));
        }
        return list;
    }

    public override string ToString() =>
        $"[{Start}, {End}) depth={Depth} present={Present} zero={Zero} data={Data}";
}
