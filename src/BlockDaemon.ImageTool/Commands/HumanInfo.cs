using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qmp.Wire;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>ImageInfo in words, as QEMU's bdrv_image_info_dump prints it.</summary>
public static class HumanInfo
{
    public static string Format(JsonObject info)
    {
        var sb = new StringBuilder();
        long virtualSize = (long)info["virtual-size"]!;
        sb.Append("image: ").Append((string?)info["filename"]).Append('\n');
        sb.Append("file format: ").Append((string?)info["format"]).Append('\n');
        sb.Append("virtual size: ").Append(Sizes.Human(virtualSize)).Append(" (").Append(virtualSize).Append(" bytes)\n");
        sb.Append("disk size: ").Append(info["actual-size"] is { } actual ? Sizes.Human(L(actual)) : "unavailable").Append('\n');
        if (info["encrypted"] is { } encrypted && (bool)encrypted)
        {
            sb.Append("encrypted: yes\n");
        }
        if (info["cluster-size"] is { } clusterSize)
        {
            sb.Append("cluster_size: ").Append(L(clusterSize)).Append('\n');
        }
        if (info["dirty-flag"] is { } dirty && (bool)dirty)
        {
            sb.Append("cleanly shut down: no\n");
        }
        if ((string?)info["backing-filename"] is { } backing)
        {
            sb.Append("backing file: ").Append(backing);
            string? full = (string?)info["full-backing-filename"];
            if (full is null)
            {
                sb.Append(" (cannot determine actual path)");
            }
            else if (full != backing)
            {
                sb.Append(" (actual path: ").Append(full).Append(')');
            }
            sb.Append('\n');
            if ((string?)info["backing-filename-format"] is { } backingFormat)
            {
                sb.Append("backing file format: ").Append(backingFormat).Append('\n');
            }
        }
        if (info["snapshots"] is JsonArray snapshots)
        {
            sb.Append("Snapshot list:\n");
            sb.Append(SnapshotHeader()).Append('\n');
            foreach (var snapshot in snapshots)
            {
                sb.Append(SnapshotLine((JsonObject)snapshot!)).Append('\n');
            }
        }
        if (info["format-specific"] is JsonObject specific)
        {
            sb.Append("Format specific information:\n");
            DumpValue(sb, 1, specific["data"]);
        }
        return sb.ToString();
    }

    /// <summary>An integer member, whatever CLR type the builder stored it as.</summary>
    public static long L(JsonNode? node) => long.Parse(node!.ToJsonString(), CultureInfo.InvariantCulture);

    public static string SnapshotHeader() =>
        string.Format(CultureInfo.InvariantCulture, "{0,-10}{1,-17}{2,8}{3,20}{4,13}{5,11}", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");

    /// <summary>bdrv_snapshot_dump: the date in local time, the VM clock as hh:mm:ss.mmm.</summary>
    public static string SnapshotLine(JsonObject s)
    {
        long dateSec = (long)s["date-sec"]!;
        long clockNs = (long)s["vm-clock-sec"]! * 1_000_000_000 + (long)s["vm-clock-nsec"]!;
        var date = TimeZoneInfo.ConvertTime(DateTimeOffset.FromUnixTimeSeconds(dateSec), TimeZoneInfo.Local);
        long secs = clockNs / 1_000_000_000;
        string clock = string.Format(CultureInfo.InvariantCulture, "{0:D2}:{1:D2}:{2:D2}.{3:D3}",
            (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60), (int)(clockNs / 1_000_000 % 1000));
        string icount = s["icount"] is { } i ? (L(i)).ToString(CultureInfo.InvariantCulture) : "";
        return string.Format(CultureInfo.InvariantCulture, "{0,-9} {1,-16} {2,8}{3,20}{4,13}{5,11}",
            (string?)s["id"], (string?)s["name"], Sizes.Human((long)s["vm-state-size"]!),
            date.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), clock, icount);
    }

    // dump_qobject: object members in QDict order, '-' in keys shown as ' ', list items as [i].
    private static void DumpValue(StringBuilder sb, int indent, JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                var keys = obj.Select(p => p.Key).ToArray();
                foreach (int i in QDictOrder.Order(keys))
                {
                    var value = obj[keys[i]];
                    sb.Append(' ', indent * 4).Append(keys[i].Replace('-', ' ')).Append(':');
                    if (value is JsonObject or JsonArray)
                    {
                        sb.Append('\n');
                        DumpValue(sb, indent + 1, value);
                    }
                    else
                    {
                        sb.Append(' ');
                        DumpValue(sb, indent + 1, value);
                        sb.Append('\n');
                    }
                }
                break;
            case JsonArray array:
                for (int i = 0; i < array.Count; i++)
                {
                    bool composite = array[i] is JsonObject or JsonArray;
                    sb.Append(' ', indent * 4).Append('[').Append(i).Append("]:").Append(composite ? '\n' : ' ');
                    DumpValue(sb, indent + 1, array[i]);
                    if (!composite)
                    {
                        sb.Append('\n');
                    }
                }
                break;
            case JsonValue value:
                sb.Append(value.GetValueKind() switch
                {
                    JsonValueKind.True => "true",
                    JsonValueKind.False => "false",
                    JsonValueKind.String => value.GetValue<string>(),
                    _ => QmpJsonWriter.Write(value),
                });
                break;
        }
    }
}
