using System.Text;
using System.Text.Json.Nodes;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `info [-f FMT] [--output=human|json] [--backing-chain] [-U] FILENAME`: qemu-img's
/// ImageInfo for the image (and, with --backing-chain, for each image below it, each opened on
/// its own without its backing file, as qemu-img does).
/// </summary>
public static class InfoCommand
{
    private static readonly OptionSpec[] Specs =
    [
        CommandLine.FormatOption,
        CommandLine.OutputOption,
        new(null, "backing-chain", false, "chain"),
        CommandLine.ForceShareOption,
        CommandLine.HelpOption,
    ];

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        var format = Output.Parse(opts.Last("output"));
        string filename = CommandLine.OneImage(opts);
        var images = await CollectAsync(filename, opts.Last("f"), opts.Has("chain"), opts.Has("U"), ct).ConfigureAwait(false);
        if (format == OutputFormat.Json)
        {
            Output.WriteJson(stdout, opts.Has("chain") ? new JsonArray([.. images]) : images[0]);
        }
        else
        {
            for (int i = 0; i < images.Count; i++)
            {
                if (i > 0)
                {
                    stdout.Write('\n');
                }
                stdout.Write(HumanInfo.Format(images[i]));
            }
        }
        return 0;
    }

    /// <summary>ImageInfo of <paramref name="filename"/> and, when <paramref name="chain"/>, of each backing file in turn.</summary>
    public static async ValueTask<List<JsonObject>> CollectAsync(string filename, string? format, bool chain, bool forceShare, CancellationToken ct)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<JsonObject>();
        string? next = filename;
        string? nextFormat = format;
        while (next is not null)
        {
            if (!seen.Add(next))
            {
                throw new ToolException($"Backing file '{next}' creates an infinite loop.");
            }
            var info = await ImageInfoAsync(next, nextFormat, forceShare, ct).ConfigureAwait(false);
            list.Add(info);
            next = nextFormat = null;
            if (chain)
            {
                next = (string?)info["full-backing-filename"];
                if (next is null && info["backing-filename"] is { } name)
                {
                    throw new ToolException($"Could not determine absolute backing filename, but backing filename '{(string?)name}' present");
                }
                nextFormat = (string?)info["backing-filename-format"];
            }
        }
        return list;
    }

    public static async ValueTask<JsonObject> ImageInfoAsync(string filename, string? format, bool forceShare, CancellationToken ct)
    {
        await using var image = await ImageOpener.OpenAsync(filename, format, new OpenMode { NoBacking = true, ForceShare = forceShare }, ct).ConfigureAwait(false);
        var info = ImageInfoBuilder.Image(image.Node, flat: true);
        // qemu-img opens without I/O (BDRV_O_NO_IO), so the missing backing node does not turn
        // the name into a json: description.
        if (image.Node.FindChild("backing") is null && image.Node.FindChild("file") is { } file && image.Format == "qcow2")
        {
            info["filename"] = NodeFilename.For(file.Node);
        }
        // qemu-img 7.2 counts only the image file, not an external data file (qsd adds it).
        if (image.Format == "qcow2" && image.Node.FindChild("file") is { } primary && primary.Node.Driver.AllocatedBytes is { } bytes)
        {
            info["actual-size"] = bytes;
        }
        return info;
    }
}
