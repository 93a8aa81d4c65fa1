using BlockDaemon.ImageTool.Cli;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// The option specs and argument checks that blockimg's commands share, so each command's
/// spec list and RunAsync keep only what is its own. qemu-img spells these the same way in
/// every subcommand, which is why one definition serves them all.
/// </summary>
internal static class CommandLine
{
    /// <summary>-f/--format: the commands that take the long spelling too (qemu-img's info, check, map, create, resize).</summary>
    public static readonly OptionSpec FormatOption = new('f', "format", true, "f");
    public static readonly OptionSpec HelpOption = new('h', "help", false, "help");
    public static readonly OptionSpec ForceShareOption = new('U', "force-share", false, "U");
    public static readonly OptionSpec OutputOption = new(null, "output", true, "output");

    /// <summary>A short option without an argument, keyed by its letter.</summary>
    public static OptionSpec Flag(char letter) => new(letter, null, false, letter.ToString());

    /// <summary>A short option that takes an argument, keyed by its letter.</summary>
    public static OptionSpec Value(char letter) => new(letter, null, true, letter.ToString());

    /// <summary>
    /// Parses <paramref name="args"/>; when --help/-h is among them writes the help text and
    /// returns null, since every command then exits 0 without looking at the rest.
    /// </summary>
    public static Getopt? ParseOrHelp(IReadOnlyList<string> args, IReadOnlyList<OptionSpec> specs, TextWriter stdout)
    {
        var opts = Getopt.Parse(args, specs);
        if (opts.Has("help"))
        {
            stdout.Write(Help.Text);
            return null;
        }
        return opts;
    }

    /// <summary>The single image file name the command works on, or qemu-img's usage error.</summary>
    public static string OneImage(Getopt opts)
    {
        if (opts.Operands.Count != 1)
        {
            throw ToolException.UsageError("Expecting one image file name");
        }
        return opts.Operands[0];
    }

    /// <summary>Read-only open, sharing the image with other writers when -U was given.</summary>
    public static OpenMode ReadMode(Getopt opts) => new() { ForceShare = opts.Has("U") };

    /// <summary>
    /// Whether "-o help" (or "-o ?") was asked for; if so the creation options of
    /// <paramref name="format"/> have been written and the command is done.
    /// </summary>
    public static bool WroteCreateOptionsHelp(string format, Getopt opts, TextWriter stdout)
    {
        if (!CreateOptionList.WantsHelp(opts.All("o")))
        {
            return false;
        }
        ImageOpener.CheckFormat(format);
        stdout.Write(CreateOptionList.For(format).HelpText(format));
        return true;
    }

    /// <summary>The creation options of <paramref name="format"/> with every -o given applied in order.</summary>
    public static CreateOptionList CreateOptions(string format, Getopt opts)
    {
        var list = CreateOptionList.For(format);
        foreach (string o in opts.All("o"))
        {
            list.Parse(o);
        }
        return list;
    }
}
