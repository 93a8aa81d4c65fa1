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
        // raw and file have creation options but no backing file; the rest cannot create images.
        throw QmpException.Generic(format is "raw" or "file"
            ? $"Backing file not supported for file format '{format}'"
            : $"Format driver '{format}' does not support image creation");
    }

    /// <summary>Creates (or replaces) <paramref name="path"/> as a qcow2 image backed by <paramref name="backing"/>.</summary>
    public static async ValueTask CreateAsync(BlockGraph graph, string path, BlockNode backing, CancellationToken ct)
    {
        await FileCreator.CreateAsync(new FileCreateOptions { Filename = path, Size = 0 }, ct).ConfigureAwait(false);
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
                    Size = backing.Length,
                    BackingFile = Commands.NodeFilename.PlainName(backing),
                    BackingFormat = backing.DriverName,
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
