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
        // qsd runs it as a transaction of one action, which begins with bdrv_drain_all.
        await context.Graph.DrainAllJobsAsync().ConfigureAwait(false);
        var start = await PrepareAsync(context, arguments).ConfigureAwait(false);
        await start.StartAsync().ConfigureAwait(false);
        start.Clean();
        return null;
    }

    internal static async ValueTask<BackupStart> PrepareAsync(CommandContext context, JsonObject arguments)
    {
        var graph = context.Graph;
        var bs = BlockJobCommands.FindDevice(context, arguments["device"]!.GetValue<string>());
        // drive_backup_prepare drains the source before its checks (ended at clean).
        var drained = await graph.DrainedBeginJobsAsync(bs).ConfigureAwait(false);
        try
        {
            return await PrepareDrainedAsync(context, arguments, bs, drained).ConfigureAwait(false);
        }
        catch
        {
            drained.End();
            throw;
        }
    }

    private static async ValueTask<BackupStart> PrepareDrainedAsync(CommandContext context, JsonObject arguments, BlockNode bs, DrainedSection drained)
    {
        var graph = context.Graph;
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
        DriveTarget.Check(graph, path, existing, format, backing);
        return await DriveTarget.CreateAndUseAsync(graph, path, existing, format, bs.Length, backing, (options, driver) =>
        {
            options.Set("discard", "unmap");
            options.Set("detect-zeroes", "unmap");
            if (driver == "qcow2")
            {
                // The nodes already open stand for the backing files the header names.
                options.Set("backing", backing?.NodeName);
            }
        }, target => BackupStart.PrepareAsync(context, arguments, bs, target, ownsTarget: true, drained).AsTask()).ConfigureAwait(false);
    }
}
