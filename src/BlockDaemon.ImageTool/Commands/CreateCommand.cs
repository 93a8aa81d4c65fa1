using BlockDaemon.ImageTool.Cli;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>`create [-q] [-f FMT] [-b BACKING [-F FMT]] [-u] [-o OPTIONS] FILENAME [SIZE]`.</summary>
public static class CreateCommand
{
    private static readonly OptionSpec[] Specs =
    [
        CommandLine.FormatOption,
        CommandLine.Value('F'),
        CommandLine.Value('b'),
        CommandLine.Value('o'),
        new('q', "quiet", false, "q"),
        CommandLine.Flag('u'),
        CommandLine.HelpOption,
    ];

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        string format = opts.Last("f") ?? "raw";
        if (CommandLine.WroteCreateOptionsHelp(format, opts, stdout))
        {
            return 0;
        }
        if (opts.Operands.Count < 1)
        {
            throw ToolException.UsageError("Expecting image file name");
        }
        string filename = opts.Operands[0];
        long? size = null;
        if (opts.Operands.Count >= 2)
        {
            size = ParseImageSize(opts.Operands[1]);
        }
        if (opts.Operands.Count > 2)
        {
            throw ToolException.UsageError($"Unexpected argument: {opts.Operands[2]}");
        }
        if (format is not ("qcow2" or "raw"))
        {
            throw new ToolException($"{filename}: Unknown file format '{format}'");
        }
        var list = CreateOptionList.For(format);
        foreach (string o in opts.All("o"))
        {
            try
            {
                list.Parse(o);
            }
            catch (ToolException e)
            {
                throw new ToolException($"{filename}: {e.Message}") { Hint = e.Hint };
            }
        }
        if (opts.Last("b") is { } backing)
        {
            list.Set("backing_file", backing);
        }
        if (opts.Last("F") is { } backingFormat)
        {
            list.Set("backing_fmt", backingFormat);
        }
        if (format == "raw" && (list.IsSet("backing_file") || list.IsSet("backing_fmt")))
        {
            throw new ToolException($"{filename}: Backing file not supported for file format 'raw'");
        }
        await ImageCreator.CreateAsync(new CreateRequest
        {
            Filename = filename,
            Format = format,
            Options = list,
            Size = size,
            Unsafe = opts.Has("u"),
            Quiet = opts.Has("q"),
        }, stdout, ct).ConfigureAwait(false);
        return 0;
    }

    public static long ParseImageSize(string text)
    {
        if (Sizes.TryParse(text, out long size, out bool outOfRange) && !text.TrimStart().StartsWith('-'))
        {
            return size;
        }
        throw new ToolException(outOfRange
            ? "Invalid image size specified. Must be between 0 and 9223372036854775807."
            : "Invalid image size specified" + Sizes.SuffixHint);
    }
}
