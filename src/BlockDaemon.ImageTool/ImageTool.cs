using BlockDaemon.Core.Errors;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.ImageTool.Commands;

namespace BlockDaemon.ImageTool;

/// <summary>
/// blockimg: qemu-img's command line over the daemon's block layer. Each subcommand parses its
/// options, validates everything it can before touching an image, and returns qemu-img's exit code.
/// </summary>
public static class ImageTool
{
    public const string Name = "blockimg";

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (args.Count == 0)
        {
            stderr.Write($"{Name}: Not enough arguments\nTry '{Name} --help' for more information\n");
            return 1;
        }
        string command = args[0];
        var rest = args.Skip(1).ToArray();
        try
        {
            int code = command switch
            {
                "-h" or "--help" => WriteHelp(stdout),
                "-V" or "--version" => WriteVersion(stdout),
                "info" => await InfoCommand.RunAsync(rest, stdout, ct).ConfigureAwait(false),
                "map" => await MapCommand.RunAsync(rest, stdout, stderr, ct).ConfigureAwait(false),
                "check" => await CheckCommand.RunAsync(rest, stdout, stderr, ct).ConfigureAwait(false),
                "create" => await CreateCommand.RunAsync(rest, stdout, ct).ConfigureAwait(false),
                "compare" => await CompareCommand.RunAsync(rest, stdout, stderr, ct).ConfigureAwait(false),
                "resize" => await ResizeCommand.RunAsync(rest, stdout, stderr, ct).ConfigureAwait(false),
                "snapshot" => await SnapshotCommand.RunAsync(rest, stdout, stderr, ct).ConfigureAwait(false),
                "convert" => await ConvertCommand.RunAsync(rest, stdout, stderr, ct).ConfigureAwait(false),
                "commit" => await CommitCommand.RunAsync(rest, stdout, stderr, ct).ConfigureAwait(false),
                "rebase" => await RebaseCommand.RunAsync(rest, stdout, stderr, ct).ConfigureAwait(false),
                "measure" => await MeasureCommand.RunAsync(rest, stdout, ct).ConfigureAwait(false),
                "plan-merge" => await PlanMergeCommand.RunAsync(rest, stdout, ct).ConfigureAwait(false),
                "bitmap" => await BitmapCommand.RunAsync(rest, stdout, stderr, ct).ConfigureAwait(false),
                "amend" => await AmendCommand.RunAsync(rest, stdout, stderr, ct).ConfigureAwait(false),
                "bench" => await BenchCommand.RunAsync(rest, stdout, stderr, ct).ConfigureAwait(false),

                _ => throw ToolException.UsageError($"Command not found: {command}"),
            };
            await stdout.FlushAsync(ct).ConfigureAwait(false);
            return code;
        }
        catch (ToolException e)
        {
            await stdout.FlushAsync(ct).ConfigureAwait(false);
            foreach (string line in e.Message.Split('\n'))
            {
                stderr.Write($"{Name}: {line}\n");
            }
            if (e.Hint is { } hint)
            {
                stderr.Write(hint);
            }
            if (e.Usage)
            {
                stderr.Write($"Try '{Name} --help' for more information\n");
            }
            return e.ExitCode;
        }
        catch (BlockException e)
        {
            await stdout.FlushAsync(ct).ConfigureAwait(false);
            stderr.Write($"{Name}: {e.Message}\n");
            return 1;
        }
    }

    private static int WriteHelp(TextWriter stdout)
    {
        stdout.Write(Help.Text);
        return 0;
    }

    private static int WriteVersion(TextWriter stdout)
    {
        stdout.Write($"{Name} version 7.2 (BlockDaemon)\n");
        return 0;
    }
}
