using System.Text.Json.Nodes;
using BlockDaemon.Core.Drivers.File;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Options;
using BlockDaemon.Qmp.Transactions;

namespace BlockDaemon.Qmp.Commands;

/// <summary>
/// drive-backup (deprecated in qsd 7.2, still there): drive_backup_prepare creates the target
/// image (format defaulting to the device's; backed by the device's backing file for sync=top,
/// by the device itself for sync=none) or, with mode=existing, opens it, then runs the backup as
/// blockdev-backup does. As drive-mirror, every check that does not need the target runs before
/// the file is created, so a refused command leaves no file behind (qsd creates it first).
/// The target node belongs to the job and closes with it.
/// </summary>
public static class DriveBackupCommand
{
    internal static void Register(CommandRegistry registry) => registry.Add("drive-backup", DriveBackup);

    private static async Task<JsonNode?> DriveBackup(CommandContext context, JsonObject arguments)
    {
        var start = await PrepareAsync(context, arguments).ConfigureAwait(false);
        await start.StartAsync().ConfigureAwait(false);
        start.Clean();
        return null;
    }

    internal static async ValueTask<BackupStart> PrepareAsync(CommandContext context, JsonObject arguments)
    {
        var graph = context.Graph;
        var bs = BlockJobCommands.FindDevice(context, arguments["device"]!.GetValue<string>());
        try
        {
            bs.CheckNotBlocked();
        }
        catch (BlockException e)
        {
            throw QmpErrors.From(e);
        }
        string path = arguments["target"]!.GetValue<string>();
        bool existing = arguments["mode"]?.GetValue<string>() == "existing";
        string? format = arguments["format"]?.GetValue<string>() ?? (existing ? null : bs.DriverName);
        string sync = arguments["sync"]!.GetValue<string>();
        BlockNode? backing = null;
        if (sync == "top")
        {
            backing = BlockGraph.BackingOf(bs);
            if (backing is null)
            {
                sync = "full";
                arguments = (JsonObject)arguments.DeepClone();
                arguments["sync"] = "full";
            }
        }
        else if (sync == "none")
        {
            backing = bs;
        }
        if (!existing)
        {
            if (format != "raw" || backing is not null)
            {
                OverlayImage.CheckFormat(graph, format!);
            }
            if (backing is not null)
            {
                OverlayImage.CheckTarget(graph, path, backing);
            }
        }
        else if (format is not null && !graph.DriverNames.Contains(format))
        {
            throw QmpException.Generic($"Unknown driver '{format}'");
        }

        bool created = false;
        BlockNode? target = null;
        try
        {
            if (!existing)
            {
                await OverlayImage.CreateFileAsync(path, default).ConfigureAwait(false);
                created = true;
                if (format == "raw")
                {
                    await FileCreator.CreateAsync(new FileCreateOptions { Filename = path, Size = bs.Length }, default).ConfigureAwait(false);
                }
                else
                {
                    await OverlayImage.FormatAsync(graph, path, bs.Length, backing, default).ConfigureAwait(false);
                }
            }
            string driver = format ?? DriveMirrorCommand.Probe(path);
            var options = new OptionDict();
            options.Set("driver", driver);
            options.Set("discard", "unmap");
            options.Set("detect-zeroes", "unmap");
            var fileOptions = new OptionDict();
            fileOptions.Set("driver", "file");
            fileOptions.Set("filename", path);
            options.Set("file", fileOptions);
            if (driver == "qcow2")
            {
                // The nodes already open stand for the backing files the header names.
                options.Set("backing", backing?.NodeName);
            }
            target = await graph.AddUnownedNodeAsync(options, default).ConfigureAwait(false);
            return await BackupStart.PrepareAsync(context, arguments, bs, target, ownsTarget: true).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            if (target is not null && target.Parents.Count == 0 && graph.FindNode(target.NodeName) == target)
            {
                await graph.DiscardNodeAsync(target).ConfigureAwait(false);
            }
            if (created)
            {
                OverlayImage.Remove(path);
            }
            throw e is BlockException be ? QmpErrors.From(be) : e;
        }
    }
}
