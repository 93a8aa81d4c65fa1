using System.Text.Json.Nodes;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.ImageTool.Cli;
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
            throw new ToolException("--force-share/-U is not allowed when modifying the image");
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
                if (snapshots is null || !SafeList(snapshots).Any(s => s.Name == name))
                {
                    throw new ToolException($"Could not apply snapshot '{name}': Failed to load snapshot: No such file or directory");
                }
                throw new ToolException($"Could not apply snapshot '{name}': reverting to an internal snapshot is not supported by {ImageTool.Name} yet");
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
