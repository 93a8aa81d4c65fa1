using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Options;
using BlockDaemon.Qcow2.Create;

namespace BlockDaemon.Qmp.Transactions;

/// <summary>
/// The overlay file of blockdev-snapshot-sync (QEMU's bdrv_img_create): a new image of the old
/// top's size whose header names the old top's plain file name and driver as its backing.
/// blockd creates qcow2 overlays only; other formats get qsd's refusal where qsd refuses too.
/// </summary>
internal static class OverlayImage
{
    /// <summary>The refusals qsd gives before it writes anything, for a format blockd knows.</summary>
    public static void CheckFormat(BlockGraph graph, string format)
    {
        if (format == "qcow2")
        {
            return;
        }
        if (!graph.DriverNames.Contains(format))
        {
            throw QmpException.Generic($"Unknown file format '{format}'");
        }
        // raw, file and nbd have creation options but no backing file; the rest cannot create images.
        throw QmpException.Generic(format is "raw" or "file" or "nbd"
            ? $"Backing file not supported for file format '{format}'"
            : $"Format driver '{format}' does not support image creation");
    }

    /// <summary>
    /// Checks that <paramref name="path"/> may be created (or replaced) for an overlay of
    /// <paramref name="backing"/>: qsd refuses the backing file's own name; blockd also refuses
    /// any file an open node of the graph uses, whatever locks it shares.
    /// </summary>
    public static void CheckTarget(BlockGraph graph, string path, BlockNode backing)
    {
        if (path == Commands.NodeFilename.PlainName(backing))
        {
            throw QmpException.Generic("Error: Trying to create an image with the same filename as the backing file");
        }
        string target = Resolve(path);
        foreach (var node in graph.Nodes)
        {
            if (node.Children.Count == 0 && node.DriverName == "file" && Resolve(node.Driver.DisplayName) == target)
            {
                throw QmpException.Generic($"Could not create '{path}': the file is in use by node '{node.NodeName}'");
            }
        }
    }

    // The file a path names, symbolic links followed, so two spellings of one file compare equal.
    private static string Resolve(string path)
    {
        try
        {
            var full = new FileInfo(Path.GetFullPath(path));
            return full.Exists && full.ResolveLinkTarget(returnFinalTarget: true) is { } target ? target.FullName : full.FullName;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return path;
        }
    }

    /// <summary>Creates (or empties) the file; nothing is written into it yet.</summary>
    public static ValueTask CreateFileAsync(string path, CancellationToken ct) =>
        FileCreator.CreateAsync(new FileCreateOptions { Filename = path, Size = 0 }, ct);

    /// <summary>Formats the file made by <see cref="CreateFileAsync"/> as a qcow2 image backed by <paramref name="backing"/>.</summary>
    public static ValueTask FormatAsync(BlockGraph graph, string path, BlockNode backing, CancellationToken ct) =>
        FormatAsync(graph, path, backing.Length, backing, ct);

    /// <summary>Formats the file as a qcow2 image of <paramref name="size"/> bytes, backed by <paramref name="backing"/> when given (drive-mirror).</summary>
    public static async ValueTask FormatAsync(BlockGraph graph, string path, long size, BlockNode? backing, CancellationToken ct)
    {
        var fileOptions = new OptionDict();
        fileOptions.Set("driver", "file");
        fileOptions.Set("filename", path);
        var file = await graph.AddNodeAsync(fileOptions, ct).ConfigureAwait(false);
        try
        {
            var user = graph.AttachUser(null, file, BlockPermissions.Write | BlockPermissions.Resize, BlockPermissions.All);
            try
            {
                var options = new Qcow2CreateOptions
                {
                    Size = size,
                    BackingFile = backing is null ? null : Commands.NodeFilename.PlainName(backing),
                    BackingFormat = backing?.DriverName,
                };
                await Qcow2Creator.CreateAsync(user.Root!, options, ct).ConfigureAwait(false);
                await user.Root!.FlushAsync(ct).ConfigureAwait(false);
            }
            finally
            {
                graph.DetachUser(user);
            }
        }
        finally
        {
            await graph.DeleteNodeAsync(file.NodeName, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Removes an overlay file this transaction created; a failure to do so changes nothing else.</summary>
    public static void Remove(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The transaction has failed already; its error is the one to report.
        }
    }
}
