using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qcow2;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `snapshot [-l | -a NAME | -c NAME | -d NAME] [-q] [-U] FILENAME`: internal snapshots, through
/// the format driver's <see cref="IInternalSnapshots"/>. Without an action it lists. As in
/// qemu-img, -d and -a find the snapshot by name only, and names need not be unique.
/// </summary>
public static class SnapshotCommand
{
    private static readonly OptionSpec[] Specs =
    [
        CommandLine.Flag('l'),
        CommandLine.Value('a'),
        CommandLine.Value('c'),
        CommandLine.Value('d'),
        CommandLine.Flag('q'),
        CommandLine.ForceShareOption,
        CommandLine.HelpOption,
    ];

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        var actions = opts.Options.Where(o => o.Key is "l" or "a" or "c" or "d").ToList();
        if (actions.Select(a => a.Key).Distinct().Count() > 1)
        {
            throw ToolException.UsageError("Cannot mix '-l', '-a', '-c', '-d'");
        }
        string filename = CommandLine.OneImage(opts);
        string action = actions.Count == 0 ? "l" : actions[^1].Key;
        string name = actions.Count == 0 ? "" : actions[^1].Value ?? "";
        // Only an explicit -l opens read-only; qemu-img lists with a writable image otherwise.
        bool writable = actions.Count == 0 || action != "l";
        if (writable && opts.Has("U"))
        {
            throw new ToolException($"Could not open '{filename}': force-share=on can only be used with read-only images");
        }
        await using var image = await ImageOpener.OpenAsync(filename, null,
            new OpenMode { Writable = writable, NoBacking = true, ForceShare = opts.Has("U") }, ct, stderr: stderr).ConfigureAwait(false);
        var snapshots = image.Node.Driver as IInternalSnapshots;
        switch (action)
        {
            case "l":
                if (snapshots is not null)
                {
                    List(SafeList(snapshots), stdout);
                }
                return 0;
            case "c":
                if (snapshots is null)
                {
                    throw new ToolException($"Could not create snapshot '{name}': -{Errno.ENotSup} ({Errno.Text(Errno.ENotSup)})");
                }
                try
                {
                    await snapshots.CreateSnapshotAsync(NewSnapshot.Now(name, TimeProvider.System) with { VmClockNanoseconds = 0, Icount = 0 }, ct).ConfigureAwait(false);
                }
                catch (BlockException e)
                {
                    throw new ToolException($"Could not create snapshot '{name}': {(e.Errno != 0 ? $"-{e.Errno} ({Errno.Text(e.Errno)})" : e.Message)}");
                }
                return 0;
            case "d":
                if (snapshots is null || !SafeList(snapshots).Any(s => s.Name == name))
                {
                    throw new ToolException($"Could not delete snapshot '{name}': snapshot not found");
                }
                try
                {
                    await snapshots.DeleteSnapshotAsync(new SnapshotSelector(null, name), ct).ConfigureAwait(false);
                }
                catch (BlockException e)
                {
                    throw new ToolException($"Could not delete snapshot '{name}': {e.Message}");
                }
                return 0;
            default:
                await ApplyAsync(image, name, probed: opts.Last("f") is null, stderr, ct).ConfigureAwait(false);
                return 0;
        }
    }

    // bdrv_snapshot_goto: an image with bitmaps is refused before the driver is asked; a format
    // without snapshots hands the request to its file, which has none either.
    private static async ValueTask ApplyAsync(OpenedImage image, string name, bool probed, TextWriter stderr, CancellationToken ct)
    {
        string prefix = $"Could not apply snapshot '{name}': ";
        if (image.Node.DirtyBitmaps.Count > 0)
        {
            throw new ToolException(prefix + "Device has active dirty bitmaps");
        }
        if (image.Node.Driver is not Qcow2Driver qcow2)
        {
            if (probed && image.Format == "raw")
            {
                // qemu-img reopens the raw image after its file refused, which warns again.
                stderr.Write($"WARNING: Image format was not specified for '{image.Filename}' and probing guessed raw.\n"
                    + "         Automatically detecting the format is dangerous for raw images, write operations on block 0 will be restricted.\n"
                    + "         Specify the 'raw' format explicitly to remove the restrictions.\n");
            }
            throw new ToolException(prefix + "Block driver does not support snapshots");
        }
        try
        {
            await qcow2.RevertToSnapshotAsync(new SnapshotSelector(null, name), ct).ConfigureAwait(false);
        }
        catch (BlockException e)
        {
            int errno = e.Errno != 0 ? e.Errno : Errno.EIo;
            string reason = $"Failed to load snapshot: {Errno.Text(errno)}";
            // The driver reports what went wrong itself before failing with an errno, except
            // for a snapshot it cannot find.
            bool ownLine = errno != Errno.ENoEnt && e.Message != Errno.Text(errno);
            throw new ToolException(ownLine ? $"{e.Message}\n{prefix}{reason}" : prefix + reason);
        }
    }

    // An image that cannot have snapshots (external data file) simply has none to show or find.
    private static IReadOnlyList<ImageSnapshot> SafeList(IInternalSnapshots snapshots)
    {
        try
        {
            return snapshots.ListSnapshots();
        }
        catch (BlockException)
        {
            return [];
        }
    }

    private static void List(IReadOnlyList<ImageSnapshot> list, TextWriter stdout)
    {
        if (list.Count == 0)
        {
            return;
        }
        stdout.Write("Snapshot list:\n" + HumanInfo.SnapshotHeader() + "\n");
        foreach (var snapshot in list)
        {
            // qemu-img prints the icount of a snapshot that has none as 0 here, unlike info.
            var json = ImageInfoBuilder.Snapshot(snapshot);
            json["icount"] ??= 0;
            stdout.Write(HumanInfo.SnapshotLine(json) + "\n");
        }
    }
}
