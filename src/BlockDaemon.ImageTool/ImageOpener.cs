using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Drivers.Raw;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Options;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qcow2;

namespace BlockDaemon.ImageTool;

/// <summary>How a subcommand wants its image opened.</summary>
public sealed record OpenMode
{
    public bool Writable { get; init; }

    /// <summary>qemu-img's BDRV_O_NO_BACKING: the header's backing file is named but not opened.</summary>
    public bool NoBacking { get; init; }

    /// <summary>-U: share every permission with other processes (read-only opens only).</summary>
    public bool ForceShare { get; init; }
}

/// <summary>One image opened in a graph of its own, with a user edge to do I/O through.</summary>
public sealed class OpenedImage : IAsyncDisposable
{
    internal OpenedImage(BlockGraph graph, BlockNode node, BlockChild root, string filename)
    {
        Graph = graph;
        Node = node;
        Root = root;
        Filename = filename;
    }

    public BlockGraph Graph { get; }

    public BlockNode Node { get; }

    public BlockChild Root { get; }

    /// <summary>The name as given on the command line.</summary>
    public string Filename { get; }

    public string Format => Node.DriverName;

    public ValueTask DisposeAsync() => Graph.CloseAllAsync();
}

/// <summary>
/// Opens images as qemu-img does (bdrv_open with a file name): the format is probed from the
/// first bytes unless -f names it, the backing chain is opened from the header, and qemu-img's
/// "Could not open 'NAME': " prefix goes in front of whatever the drivers say.
/// </summary>
public static class ImageOpener
{
    private static readonly byte[] Qcow2Magic = [(byte)'Q', (byte)'F', (byte)'I', 0xfb];

    public static BlockGraph NewGraph()
    {
        var graph = new BlockGraph();
        graph.RegisterDriver(new FileDriverFactory());
        graph.RegisterDriver(new RawDriverFactory());
        graph.RegisterDriver(new Qcow2DriverFactory());
        return graph;
    }

    /// <summary>qcow2 when the file starts with its magic, raw otherwise (and when it cannot be read: the open then says why).</summary>
    public static string Probe(string filename)
    {
        try
        {
            using var stream = new FileStream(filename, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            Span<byte> magic = stackalloc byte[4];
            return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual(Qcow2Magic) ? "qcow2" : "raw";
        }
        catch (IOException)
        {
            return "raw";
        }
        catch (UnauthorizedAccessException)
        {
            return "raw";
        }
    }

    public static void CheckFormat(string? format)
    {
        if (format is not null and not ("qcow2" or "raw"))
        {
            throw new ToolException($"Unknown file format '{format}'");
        }
    }

    public static async ValueTask<OpenedImage> OpenAsync(string filename, string? format, OpenMode mode, CancellationToken ct, bool wrapErrors = true, TextWriter? stderr = null)
    {
        CheckFormat(format);
        string chosen = format ?? Probe(filename);
        if (format is null && chosen == "raw" && mode.Writable && File.Exists(filename))
        {
            // qemu-img's warning; it also restricts writes to block 0, which blockd does not.
            stderr?.Write($"WARNING: Image format was not specified for '{filename}' and probing guessed raw.\n"
                + "         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n"
                + "         Specify the 'raw' format explicitly to remove the restrictions.\n");
        }
        var graph = NewGraph();
        try
        {
            var node = await graph.AddNodeAsync(Options(filename, chosen, mode), ct).ConfigureAwait(false);
            var perm = BlockPermissions.ConsistentRead | (mode.Writable ? BlockPermissions.Write | BlockPermissions.Resize : BlockPermissions.None);
            var shared = mode.ForceShare ? BlockPermissions.All : BlockPermissions.ConsistentRead | BlockPermissions.WriteUnchanged;
            var user = graph.AttachUser(null, node, perm, shared);
            return new OpenedImage(graph, node, user.Root!, filename);
        }
        catch (BlockException) when (!wrapErrors)
        {
            await graph.CloseAllAsync(ct).ConfigureAwait(false);
            throw;
        }
        catch (BlockException e) when (wrapErrors)
        {
            await graph.CloseAllAsync(ct).ConfigureAwait(false);
            throw new ToolException($"Could not open '{filename}': {e.Message}");
        }
    }

    private static OptionDict Options(string filename, string format, OpenMode mode)
    {
        var file = new OptionDict();
        file.Set("driver", "file");
        file.Set("filename", filename);
        var options = new OptionDict();
        options.Set("driver", format);
        options.Set("file", file);
        options.Set("read-only", !mode.Writable);
        if (mode.ForceShare)
        {
            options.Set("force-share", true);
        }
        if (mode.NoBacking && format == "qcow2")
        {
            options.Set("backing", null);
        }
        return options;
    }
}
