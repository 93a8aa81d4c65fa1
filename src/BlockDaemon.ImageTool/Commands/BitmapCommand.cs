using System.Text.Json.Nodes;
using BlockDaemon.Core.Bitmaps;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qmp;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b
/// source_file [-F source_fmt]] [-g granularity] [-f fmt] filename bitmap`: persistent dirty
/// bitmaps of an image, through the same bitmap operations the daemon's QMP commands run.
/// As in qemu-img the actions run in the order given and stop at the first failure; the
/// ones before it stay done.
/// </summary>
public static class BitmapCommand
{
    private static readonly OptionSpec[] Specs =
    [
        new(null, "add", false, "add"),
        new(null, "remove", false, "remove"),
        new(null, "clear", false, "clear"),
        new(null, "enable", false, "enable"),
        new(null, "disable", false, "disable"),
        new(null, "merge", true, "merge"),
        new('g', "granularity", true, "g"),
        new('b', "source-file", true, "b"),
        new('F', "source-format", true, "F"),
        CommandLine.FormatOption,
        CommandLine.HelpOption,
    ];

    private static readonly string[] ActionKeys = ["add", "remove", "clear", "enable", "disable", "merge"];

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        long granularity = 0;
        // qemu-img converts -g as soon as it meets it, before looking at anything else.
        foreach (string g in opts.All("g"))
        {
            granularity = ParseGranularity(g);
        }
        var actions = opts.Options.Where(o => ActionKeys.Contains(o.Key)).ToList();
        if (actions.Count == 0)
        {
            throw new ToolException("Need at least one of --add, --remove, --clear, --enable, --disable, or --merge");
        }
        if (granularity != 0 && !opts.Has("add"))
        {
            throw new ToolException("granularity only supported with --add");
        }
        string? sourceFile = opts.Last("b");
        string? sourceFormat = opts.Last("F");
        if (sourceFormat is not null && sourceFile is null)
        {
            throw new ToolException("-F only supported with -b");
        }
        if (sourceFile is not null && !opts.Has("merge"))
        {
            throw new ToolException("Merge bitmap source file only supported with --merge");
        }
        if (opts.Operands.Count != 2)
        {
            throw new ToolException("Expecting filename and bitmap name");
        }
        string filename = opts.Operands[0];
        string bitmapName = opts.Operands[1];

        await using var image = await ImageOpener.OpenAsync(filename, opts.Last("f"),
            new OpenMode { Writable = true, NoBacking = true }, ct, stderr: stderr).ConfigureAwait(false);
        OpenedImage? source = null;
        try
        {
            if (sourceFile is not null)
            {
                source = await ImageOpener.OpenAsync(sourceFile, sourceFormat,
                    new OpenMode { NoBacking = true }, ct, stderr: stderr).ConfigureAwait(false);
            }
            var node = image.Node;
            try
            {
                foreach (var (op, value) in actions)
                {
                    try
                    {
                        await ApplyAsync(image, op, bitmapName, granularity, source?.Node ?? node, value).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is QmpException or BlockException)
                    {
                        throw new ToolException($"Operation {op} on bitmap {bitmapName} failed: {e.Message}");
                    }
                }
            }
            finally
            {
                // Whatever succeeded is kept, as qemu-img keeps it when it closes the image.
                if (node.Driver is IPersistentBitmapStore store)
                {
                    await store.SyncAsync(ct).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            if (source is not null)
            {
                await source.DisposeAsync().ConfigureAwait(false);
            }
        }
        return 0;
    }

    // qemu-img's cvtnum("granularity", ...); the QMP argument it goes into is a uint32, so a
    // value of 4G or more keeps only its low 32 bits (4G itself becomes 0 and is refused there).
    private static long ParseGranularity(string text)
    {
        if (!Sizes.TryParse(text, out long value, out bool outOfRange))
        {
            throw new ToolException(outOfRange
                ? "Invalid granularity specified. Must be between 0 and 9223372036854775807."
                : "Invalid granularity specified" + Sizes.SuffixHint);
        }
        return value;
    }

    private static async ValueTask ApplyAsync(OpenedImage image, string op, string name, long granularity, BlockNode sourceNode, string? sourceName)
    {
        var graph = image.Graph;
        string nodeName = image.Node.NodeName;
        switch (op)
        {
            case "add":
                var arguments = new JsonObject { ["node"] = nodeName, ["name"] = name, ["persistent"] = true };
                if (granularity != 0)
                {
                    arguments["granularity"] = (long)(uint)granularity;
                }
                await DirtyBitmapCommands.AddAsync(graph, arguments).ConfigureAwait(false);
                break;
            case "remove":
                await RemoveAsync(image.Node, name).ConfigureAwait(false);
                break;
            case "clear":
                DirtyBitmapCommands.ClearAction(graph, new JsonObject { ["node"] = nodeName, ["name"] = name }, keepUndo: false);
                break;
            case "enable":
            case "disable":
                DirtyBitmapCommands.SetRecording(graph, new JsonObject { ["node"] = nodeName, ["name"] = name }, record: op == "enable");
                break;
            default:
                Merge(image.Node, name, sourceNode, sourceName!);
                break;
        }
    }

    // block-dirty-bitmap-remove: lookup, check, drop from the image, drop from the node.
    private static async ValueTask RemoveAsync(BlockNode node, string name)
    {
        var bitmap = node.FindDirtyBitmap(name) ?? throw new BlockException(BlockErrorKind.NotFound, $"Dirty bitmap '{name}' not found");
        bitmap.Check(allowReadOnly: false, allowInconsistent: true);
        if (bitmap.Persistent && node.Driver is IPersistentBitmapStore store)
        {
            await store.RemoveAsync(bitmap, CancellationToken.None).ConfigureAwait(false);
        }
        node.ReleaseDirtyBitmap(bitmap);
    }

    // block-dirty-bitmap-merge with one source given as {node, name}: the source may live in
    // another image (-b), which is opened in a graph of its own, so the lookup is done here with
    // the QMP command's checks in its order.
    internal static void Merge(BlockNode node, string target, BlockNode sourceNode, string sourceName)
    {
        var destination = node.FindDirtyBitmap(target) ?? throw new BlockException(BlockErrorKind.NotFound, $"Dirty bitmap '{target}' not found");
        destination.Check(allowReadOnly: false, allowInconsistent: false);
        var source = sourceNode.FindDirtyBitmap(sourceName) ?? throw new BlockException(BlockErrorKind.NotFound, $"Dirty bitmap '{sourceName}' not found");
        source.Check(allowReadOnly: true, allowInconsistent: false);
        if (source.DiskLength != node.Length)
        {
            throw new BlockException(BlockErrorKind.InvalidArgument,
                $"Bitmaps are of different sizes (destination size is {node.Length}, source size is {source.DiskLength}) and can't be merged");
        }
        destination.MergeFrom(source, keepBackup: false);
    }
}
