using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// change-backing-file, with qmp_change_backing_file's checks in its order: only the name recorded
/// in the image changes, never the graph. Like qsd, the recorded backing format is the image's own
/// format. Unlike qsd, an empty name leaves no empty name or format behind: the image then has no
/// backing file reference at all, which is what qemu-img reads from qsd's image too.
/// </summary>
public static class ChangeBackingFileCommand
{
    internal static void Register(CommandRegistry registry) => registry.Add("change-backing-file", ChangeBackingFile);

    private static async Task<JsonNode?> ChangeBackingFile(CommandContext context, JsonObject arguments)
    {
        string device = arguments["device"]!.GetValue<string>();
        string imageName = arguments["image-node-name"]!.GetValue<string>();
        string backingFile = arguments["backing-file"]!.GetValue<string>();

        var root = RootNodeLookup.Find(context, device);
        var image = BlockJobCommands.FindNodeOnly(context, imageName);
        if (BlockGraph.ChainNextOf(image) is null)
        {
            throw QmpException.Generic("not allowing backing file change on an image without a backing file");
        }
        // The image need not be the device itself, but the device's blockers guard its whole chain.
        root.CheckNotBlocked();
        if (!ChainLookup.Contains(root, image))
        {
            throw QmpException.Generic($"'{device}' and image file are not in the same chain");
        }
        if (image.Driver is not IBackingLink link)
        {
            throw QmpException.Generic($"Could not change backing file to '{backingFile}': {Errno.Text(Errno.ENotSup)}");
        }

        bool readOnly = image.ReadOnly;
        if (readOnly)
        {
            await context.Graph.SetReadOnlyAsync(image, readOnly: false).ConfigureAwait(false);
        }
        try
        {
            string? name = backingFile.Length > 0 ? backingFile : null;
            await link.WriteBackingFileAsync(name, name is null ? null : image.DriverName, default).ConfigureAwait(false);
        }
        catch (BlockException e)
        {
            throw QmpException.Generic($"Could not change backing file to '{backingFile}': {QmpErrors.Reason(e)}");
        }
        finally
        {
            if (readOnly)
            {
                await context.Graph.SetReadOnlyAsync(image, readOnly: true).ConfigureAwait(false);
            }
        }
        return null;
    }
}
