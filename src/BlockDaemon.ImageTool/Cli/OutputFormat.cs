using System.Text.Json.Nodes;
using BlockDaemon.Qmp.Wire;

namespace BlockDaemon.ImageTool.Cli;

public enum OutputFormat
{
    Human,
    Json,
}

public static class Output
{
    /// <summary>--output=FMT as qemu-img parses it.</summary>
    public static OutputFormat Parse(string? text) => text switch
    {
        null or "human" => OutputFormat.Human,
        "json" => OutputFormat.Json,
        _ => throw ToolException.UsageError("--output must be used with human or json as argument."),
    };

    /// <summary>JSON as qemu-img prints it: QEMU's pretty printer (QDict member order, four-space indent), then a newline.</summary>
    public static void WriteJson(TextWriter writer, JsonNode node) => writer.Write(QmpJsonWriter.Write(node, pretty: true) + "\n");
}
