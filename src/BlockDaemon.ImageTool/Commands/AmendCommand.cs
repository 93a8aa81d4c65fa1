using System.Numerics;
using System.Text;
using BlockDaemon.Core.Errors;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qcow2;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename`: changes a qcow2
/// image's compat level, lazy refcounts, refcount width and size in place, with qemu-img
/// 7.2's option parsing, checks (in its order) and messages. A creation-only option is
/// refused with qemu-img's hint; options qemu-img can amend but this tool cannot (a new data
/// file name, dropping data_file_raw, encryption keys) are refused with a clear message.
/// </summary>
public static class AmendCommand
{
    private static readonly OptionSpec[] Specs =
    [
        CommandLine.Value('o'),
        CommandLine.Value('f'),
        CommandLine.Value('t'),
        CommandLine.Flag('p'),
        CommandLine.Flag('q'),
        new(null, "force", false, "force"),
        CommandLine.HelpOption,
    ];

    // qcow2_amend_opts, in the order qcow2_amend_options looks at them.
    private static readonly string[] AmendOrder = ["size", "compat", "backing_file", "backing_fmt", "data_file", "data_file_raw", "lazy_refcounts", "refcount_bits"];

    private static readonly CreateOptionDesc[] Encrypt =
    [
        new("encrypt.iter-time", CreateOptionType.Number, null, "Time to spend in PBKDF in milliseconds"),
        new("encrypt.keyslot", CreateOptionType.Number, null, "Select a single keyslot to modify explicitly"),
        new("encrypt.new-secret", CreateOptionType.String, null, "New secret to set in the matching keyslots. Empty string to erase"),
        new("encrypt.old-secret", CreateOptionType.String, null, "Select all keyslots that match this password"),
        new("encrypt.state", CreateOptionType.String, null, "Select new state of affected keyslots (active/inactive)"),
    ];

    private static CreateOptionList AmendOptions() =>
        new([.. CreateOptionList.Qcow2.Where(d => AmendOrder.Contains(d.Name)).Select(d => d with { Default = null }), .. Encrypt]);

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        if (!opts.Has("o"))
        {
            throw ToolException.UsageError("Must specify options (-o)");
        }
        string options = string.Join(',', opts.All("o"));
        bool wantsHelp = CreateOptionList.WantsHelp([options]);
        string? format = opts.Last("f");
        if (format is not null && wantsHelp)
        {
            return WriteHelp(format, stdout);
        }
        if (opts.Operands.Count != 1)
        {
            throw new ToolException("Expecting one image file name");
        }
        if (opts.Last("t") is { } cache && cache is not ("none" or "writeback" or "unsafe" or "directsync" or "writethrough"))
        {
            throw new ToolException("Invalid cache option: " + cache);
        }
        string filename = opts.Operands[0];
        await using var image = await ImageOpener.OpenAsync(filename, format, new OpenMode { Writable = true }, ct, stderr: stderr).ConfigureAwait(false);
        if (wantsHelp)
        {
            return WriteHelp(image.Format, stdout);
        }
        if (image.Node.Driver is not Qcow2Driver qcow2)
        {
            throw new ToolException($"Format driver '{image.Format}' does not support option amendment");
        }
        var list = AmendOptions();
        try
        {
            list.Parse(options);
        }
        catch (ToolException e)
        {
            // As qemu-img: parse again with the creation options to tell why an option is unknown.
            try
            {
                var withCreate = AmendOptions();
                var all = new CreateOptionList([.. withCreate.Descs, .. CreateOptionList.Qcow2.Where(d => !AmendOrder.Contains(d.Name))]);
                all.Parse(options);
            }
            catch (ToolException)
            {
                throw e;
            }
            throw new ToolException(e.Message) { Hint = (e.Hint ?? "") + "This option is only supported for image creation\n" };
        }
        var amendment = Validate(list, qcow2, image);
        var progress = new Progress(opts.Has("p") && !opts.Has("q"), stdout);
        progress.Start();
        try
        {
            await qcow2.AmendAsync(amendment, ct).ConfigureAwait(false);
        }
        catch (BlockException e)
        {
            throw new ToolException(e.Message);
        }
        finally
        {
            // qemu-img reports 100% whether or not the driver succeeded.
            progress.End();
        }
        return 0;
    }

    private static int WriteHelp(string format, TextWriter stdout)
    {
        ImageOpener.CheckFormat(format);
        if (format != "qcow2")
        {
            throw new ToolException($"Format driver '{format}' does not support option amendment");
        }
        var sb = new StringBuilder($"Amend options for '{format}':\n");
        string help = AmendOptions().HelpText(format);
        // The creation help's body without its first line and its closing note.
        foreach (string line in help.Split('\n').Skip(1).TakeWhile(l => l.Length > 0))
        {
            sb.Append(line).Append('\n');
        }
        stdout.Write(sb.ToString());
        return 0;
    }

    // qcow2_amend_options' checks, in its order; the ones it makes later (after changing the
    // image) are made here too, before anything changes.
    private static Qcow2Amendment Validate(CreateOptionList list, Qcow2Driver qcow2, OpenedImage image)
    {
        var info = qcow2.GetImageInfo();
        var specific = info.FormatSpecific.ToDictionary(p => p.Key, p => p.Value);
        bool hasDataFile = specific.ContainsKey("data-file");
        bool dataFileRaw = specific.TryGetValue("data-file-raw", out var raw) && raw is true;
        var amendment = new Qcow2Amendment();
        foreach (string name in AmendOrder)
        {
            if (!list.IsSet(name))
            {
                continue;
            }
            string value = list.Get(name)!;
            switch (name)
            {
                case "size":
                    amendment = amendment with { Size = list.GetSize("size") };
                    break;
                case "compat":
                    amendment = amendment with
                    {
                        Version = value switch
                        {
                            "0.10" or "v2" => 2,
                            "1.1" or "v3" => 3,
                            _ => throw new ToolException($"Unknown compatibility level {value}"),
                        },
                    };
                    break;
                case "lazy_refcounts":
                    amendment = amendment with { LazyRefcounts = list.GetBool(name) };
                    break;
                case "refcount_bits":
                    long bits = long.TryParse(value, out long b) ? b : -1;
                    if (bits <= 0 || bits > 64 || !BitOperations.IsPow2(bits))
                    {
                        throw new ToolException("Refcount width must be a power of two and may not exceed 64 bits");
                    }
                    amendment = amendment with { RefcountBits = (int)bits };
                    break;
                case "data_file":
                    if (!hasDataFile)
                    {
                        throw new ToolException("data-file can only be set for images that use an external data file");
                    }
                    throw new ToolException($"{ImageTool.Name} cannot change the name of an external data file");
                case "data_file_raw":
                    bool wantRaw = list.GetBool(name);
                    if (wantRaw && !dataFileRaw)
                    {
                        throw new ToolException("data-file-raw cannot be set on existing images");
                    }
                    if (!wantRaw && dataFileRaw)
                    {
                        throw new ToolException($"{ImageTool.Name} cannot clear data-file-raw");
                    }
                    break;
            }
        }
        if (Encrypt.Any(d => list.IsSet(d.Name)))
        {
            throw new ToolException("Can't amend encryption options - encryption not present");
        }
        if (list.IsSet("backing_file") || list.IsSet("backing_fmt"))
        {
            if (list.Get("backing_file") != info.BackingFileName || list.Get("backing_fmt") != info.BackingFormat)
            {
                throw new ToolException("Cannot amend the backing file") { Hint = $"You can use '{ImageTool.Name} rebase' instead.\n" };
            }
        }
        _ = image;
        return amendment;
    }
}
