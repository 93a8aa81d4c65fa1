using BlockDaemon.Core.Errors;
using BlockDaemon.ImageTool.Cli;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `resize [-f FMT] [--preallocation=off] [-q] [--shrink] FILENAME [+|-]SIZE`. The size is the
/// last word, taken before the options are parsed so that "-1G" is not an option (qemu-img
/// does the same). Shrinking needs --shrink.
/// </summary>
public static class ResizeCommand
{
    private static readonly OptionSpec[] Specs =
    [
        CommandLine.FormatOption,
        new('q', "quiet", false, "q"),
        new(null, "shrink", false, "shrink"),
        new(null, "preallocation", true, "prealloc"),
        CommandLine.HelpOption,
    ];

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (args.Count < 2)
        {
            throw ToolException.UsageError("Not enough arguments");
        }
        string sizeText = args[^1];
        if (CommandLine.ParseOrHelp(args.Take(args.Count - 1).ToArray(), Specs, stdout) is not { } opts)
        {
            return 0;
        }
        string? prealloc = opts.Last("prealloc");
        if (prealloc is not (null or "off" or "metadata" or "falloc" or "full"))
        {
            throw new ToolException($"Invalid preallocation mode '{prealloc}'");
        }
        if (opts.Operands.Count != 1)
        {
            throw new ToolException("Expecting image file name and size");
        }
        int relative = sizeText.StartsWith('+') ? 1 : sizeText.StartsWith('-') ? -1 : 0;
        string magnitude = relative != 0 ? sizeText[1..] : sizeText;
        if (!Sizes.TryParse(magnitude, out long n, out _) || magnitude.TrimStart().StartsWith('-'))
        {
            throw new ToolException("Parameter 'size' expects a non-negative number below 2^64")
            {
                Hint = "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively.\n",
            };
        }
        bool quiet = opts.Has("q");
        await using var image = await ImageOpener.OpenAsync(opts.Operands[0], opts.Last("f"), new OpenMode { Writable = true }, ct, stderr: stderr).ConfigureAwait(false);
        long current = image.Root.Length;
        long total = relative == 0 ? n : current + n * relative;
        if (total <= 0)
        {
            throw new ToolException("New image size must be positive");
        }
        bool preallocating = prealloc is not (null or "off");
        if (total <= current && preallocating)
        {
            throw new ToolException("Preallocation can only be used for growing images");
        }
        if (total == current)
        {
            WriteDone(stdout, quiet);
            return 0;
        }
        if (total < current && !opts.Has("shrink"))
        {
            throw new ToolException("Use the --shrink option to perform a shrink operation.\nwarning: Shrinking an image will delete all data beyond the shrunken image's end. Before performing such an operation, make sure there is no important data there.");
        }
        if (preallocating)
        {
            throw new ToolException($"Preallocation mode '{prealloc}' is not supported by {ImageTool.Name} resize; grow without it");
        }
        try
        {
            await image.Root.TruncateAsync(total, ct).ConfigureAwait(false);
            await image.Root.FlushAsync(ct).ConfigureAwait(false);
        }
        catch (BlockException e)
        {
            throw new ToolException(e.Message);
        }
        WriteDone(stdout, quiet);
        return 0;
    }

    private static void WriteDone(TextWriter stdout, bool quiet)
    {
        if (!quiet)
        {
            stdout.Write("Image resized.\n");
        }
    }
}
