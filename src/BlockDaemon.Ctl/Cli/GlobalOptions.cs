namespace BlockDaemon.Ctl.Cli;

/// <summary>
/// Options every blockctl command takes: --socket PATH (-s), --json, --help (-h), --version.
/// They may appear anywhere before a "--" word; every other word is left for the command.
/// </summary>
public sealed class GlobalOptions
{
    public string? Socket { get; private set; }

    public bool Json { get; private set; }

    public bool Help { get; private set; }

    public bool Version { get; private set; }

    /// <summary>The command name and its own words.</summary>
    public List<string> Rest { get; } = [];

    public static GlobalOptions Parse(IReadOnlyList<string> args)
    {
        var options = new GlobalOptions();
        bool literal = false;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (literal)
            {
                options.Rest.Add(arg);
                continue;
            }
            switch (arg)
            {
                case "--":
                    literal = true;
                    break;
                case "--socket" or "-s":
                    if (i + 1 >= args.Count)
                    {
                        throw new UsageException($"Option '{arg}' needs a path");
                    }
                    options.Socket = args[++i];
                    break;
                case "--json":
                    options.Json = true;
                    break;
                case "--help" or "-h":
                    options.Help = true;
                    break;
                case "--version" or "-V":
                    options.Version = true;
                    break;
                default:
                    if (arg.StartsWith("--socket=", StringComparison.Ordinal))
                    {
                        options.Socket = arg["--socket=".Length..];
                    }
                    else
                    {
                        options.Rest.Add(arg);
                    }
                    break;
            }
        }
        return options;
    }
}
