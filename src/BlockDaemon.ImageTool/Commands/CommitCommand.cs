using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.Core.Options;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qcow2;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `commit [-q] [-f FMT] [-b BASE] [-d] [-p] FILENAME`: copies everything the images above
/// BASE (default: the top image's backing file) allocate into BASE, then empties the top image
/// so it reads through to BASE again, unless -d (drop) or -b (the images between would no
/// longer be valid, so qemu-img keeps the top image as it is) is given.
/// The chain is opened in one graph: BASE writable, the images above it with explicit backing
/// options so that their backing links share writes to BASE.
/// </summary>
public static class CommitCommand
{
    private static readonly OptionSpec[] Specs =
    [
        CommandLine.Value('f'),
        CommandLine.Value('b'),
        CommandLine.Flag('d'),
        CommandLine.Flag('p'),
        CommandLine.Flag('q'),
        CommandLine.Value('t'),
        CommandLine.Value('r'),
        CommandLine.HelpOption,
    ];

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        string filename = CommandLine.OneImage(opts);
        bool quiet = opts.Has("q");
        string? baseName = opts.Last("b");
        bool drop = opts.Has("d") || baseName is not null;
        var chain = await InfoCommand.CollectAsync(filename, opts.Last("f"), chain: true, forceShare: false, ct).ConfigureAwait(false);
        if (chain.Count < 2)
        {
            throw new ToolException("Image does not have a backing file");
        }
        int baseIndex = 1;
        if (baseName is not null)
        {
            baseIndex = chain.FindIndex(1, info => SameFile((string)info["filename"]!, baseName));
            if (baseIndex < 0)
            {
                throw new ToolException($"Did not find '{baseName}' in the backing chain of '{filename}'");
            }
        }
        var graph = ImageOpener.NewGraph();
        try
        {
            BlockNode baseNode, top;
            try
            {
                baseNode = await graph.AddNodeAsync(NodeOptions(chain[baseIndex], "base", writable: true, backing: null), ct).ConfigureAwait(false);
                object backing = "base";
                for (int i = baseIndex - 1; i > 0; i--)
                {
                    backing = NodeOptions(chain[i], null, writable: false, backing);
                }
                top = await graph.AddNodeAsync(NodeOptions(chain[0], "top", writable: true, backing), ct).ConfigureAwait(false);
            }
            catch (BlockException e)
            {
                throw new ToolException(e.Message);
            }
            var topEdge = graph.AttachUser(null, top, BlockPermissions.ConsistentRead | BlockPermissions.Write, BlockPermissions.All).Root!;
            var baseEdge = graph.AttachUser(null, baseNode, BlockPermissions.ConsistentRead | BlockPermissions.Write | BlockPermissions.Resize, BlockPermissions.All).Root!;
            try
            {
                if (baseEdge.Length < topEdge.Length)
                {
                    await baseEdge.TruncateAsync(topEdge.Length, ct).ConfigureAwait(false);
                }
                var copier = new ImageCopier
                {
                    Target = baseEdge,
                    TargetReadsZero = false,
                    Workers = 8,
                    Progress = new Progress(opts.Has("p") && !quiet, stdout),
                    Status = (source, offset, length, token) => AboveBaseAsync(source, baseNode, offset, length, token),
                };
                await copier.CopyAsync([topEdge], ct).ConfigureAwait(false);
                if (!drop && top.Driver is Qcow2Driver qcow2)
                {
                    await qcow2.MakeEmptyAsync(ct).ConfigureAwait(false);
                }
            }
            catch (BlockException e)
            {
                throw new ToolException($"Block job failed: {e.Message}");
            }
        }
        finally
        {
            await graph.CloseAllAsync(ct).ConfigureAwait(false);
        }
        if (!quiet)
        {
            stdout.Write("Image committed.\n");
        }
        return 0;
    }

    /// <summary>Whether some image above <paramref name="baseNode"/> allocates the range (and then whether it reads as zeroes there).</summary>
    public static async ValueTask<(long Run, bool Zero, bool Skip)> AboveBaseAsync(BlockChild top, BlockNode baseNode, long offset, long length, CancellationToken ct)
    {
        BlockChild? edge = top;
        while (edge is not null && edge.Node != baseNode)
        {
            if (offset >= edge.Length)
            {
                // Past the end of a shorter image: it reads as zeroes from here.
                return (length, true, false);
            }
            var status = await edge.BlockStatusAsync(offset, Math.Min(length, edge.Length - offset), ct).ConfigureAwait(false);
            length = Math.Min(length, status.Length);
            if ((status.Flags & BlockStatusFlags.Allocated) != 0)
            {
                return (length, (status.Flags & BlockStatusFlags.Zero) != 0, false);
            }
            edge = edge.Node.FindChild("backing");
        }
        return (length, false, true);
    }

    private static bool SameFile(string chainName, string given) =>
        chainName == given || Path.GetFullPath(chainName) == Path.GetFullPath(given);

    private static OptionDict NodeOptions(System.Text.Json.Nodes.JsonObject info, string? nodeName, bool writable, object? backing)
    {
        var file = new OptionDict();
        file.Set("driver", "file");
        file.Set("filename", (string)info["filename"]!);
        var options = new OptionDict();
        options.Set("driver", (string)info["format"]!);
        if (nodeName is not null)
        {
            options.Set("node-name", nodeName);
        }
        options.Set("file", file);
        options.Set("read-only", !writable);
        if (backing is not null && (string)info["format"]! == "qcow2")
        {
            options.Set("backing", backing);
        }
        return options;
    }
}
