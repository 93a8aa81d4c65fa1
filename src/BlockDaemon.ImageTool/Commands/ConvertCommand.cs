using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.ImageTool.Cli;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `convert [-c] [-f FMT] [-n] [-O FMT] [-B BACKING [-F FMT]] [-o OPTIONS] [-m N] [-W] [-S SIZE]
/// [-p] [-q] [-U] SOURCE... TARGET`: copies what the sources read (concatenated) into a new
/// image, or with -n into an existing one. Ranges the source chain knows to be zero, and
/// blocks of -S bytes (default 4k) that read as zeroes, are not written to a target that
/// already reads as zeroes there. With -B the target gets that backing file and only what the
/// top source image itself allocates is copied. Sources are opened and every option checked
/// before the target is created.
/// </summary>
public static class ConvertCommand
{
    private static readonly OptionSpec[] Specs =
    [
        CommandLine.Value('f'),
        CommandLine.Value('O'),
        CommandLine.Value('B'),
        CommandLine.Value('F'),
        CommandLine.Value('o'),
        CommandLine.Flag('c'),
        CommandLine.Flag('n'),
        CommandLine.Value('m'),
        CommandLine.Flag('W'),
        CommandLine.Value('S'),
        CommandLine.Flag('p'),
        CommandLine.Flag('q'),
        CommandLine.ForceShareOption,
        CommandLine.Value('T'),
        CommandLine.Value('t'),
        new(null, "bitmaps", false, "bitmaps"),
        new(null, "skip-broken-bitmaps", false, "skip-broken-bitmaps"),
        CommandLine.HelpOption,
    ];

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        bool bitmaps = opts.Has("bitmaps"), skipBroken = opts.Has("skip-broken-bitmaps");
        if (skipBroken && !bitmaps)
        {
            throw new ToolException("Use of --skip-broken-bitmaps requires --bitmaps");
        }
        string outFormat = opts.Last("O") ?? "raw";
        if (CommandLine.WroteCreateOptionsHelp(outFormat, opts, stdout))
        {
            return 0;
        }
        int workers = 8;
        if (opts.Last("m") is { } m && (!int.TryParse(m, out workers) || workers < 1 || workers > 16))
        {
            throw new ToolException("Invalid number of coroutines. Allowed number of coroutines is between 1 and 16");
        }
        long sparse = 4096;
        if (opts.Last("S") is { } s && (!Sizes.TryParse(s, out sparse, out _) || sparse % 512 != 0))
        {
            throw new ToolException("Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 2 MiB.");
        }
        if (opts.Operands.Count < 2)
        {
            throw new ToolException("Must specify image file name");
        }
        bool compress = opts.Has("c"), noCreate = opts.Has("n"), quiet = opts.Has("q");
        string? backing = opts.Last("B");
        string target = opts.Operands[^1];
        ImageOpener.CheckFormat(outFormat);
        if (backing is not null && opts.Last("F") is null && !noCreate)
        {
            throw new ToolException("Use of backing file requires explicit backing format");
        }
        if (noCreate && (backing is not null || opts.All("o").Any()))
        {
            throw new ToolException(backing is not null ? "Use of -B is not supported with -n" : "Use of -o is not supported with -n");
        }
        var sources = new List<OpenedImage>();
        try
        {
            foreach (string name in opts.Operands.Take(opts.Operands.Count - 1))
            {
                sources.Add(await ImageOpener.OpenAsync(name, opts.Last("f"), CommandLine.ReadMode(opts), ct).ConfigureAwait(false));
            }
            if (compress && outFormat != "qcow2")
            {
                throw new ToolException("Compression not supported for this file format");
            }
            if (bitmaps)
            {
                ConvertBitmaps.CheckSources(sources);
                ConvertBitmaps.CheckInconsistent(sources[0], skipBroken);
            }
            long total = sources.Sum(x => x.Root.Length);
            if (!noCreate)
            {
                var list = CommandLine.CreateOptions(outFormat, opts);
                if (bitmaps)
                {
                    // Known before the target exists, so none is left behind (qemu-img creates it first).
                    ConvertBitmaps.CheckTargetFormat(outFormat, list.Get("compat"));
                }
                if (backing is not null)
                {
                    list.Set("backing_file", backing);
                    list.Set("backing_fmt", opts.Last("F")!);
                }
                await ImageCreator.CreateAsync(new CreateRequest { Filename = target, Format = outFormat, Options = list, Size = total, Quiet = true }, stdout, ct).ConfigureAwait(false);
            }
            await using var output = await ImageOpener.OpenAsync(target, outFormat, new OpenMode { Writable = true }, ct).ConfigureAwait(false);
            if (bitmaps)
            {
                ConvertBitmaps.CheckTarget(output);
            }
            var copier = new ImageCopier
            {
                Target = output.Root,
                // A fresh image without a backing file reads as zeroes wherever nothing is written.
                TargetReadsZero = !noCreate && backing is null,
                TopOnly = backing is not null,
                Compress = compress,
                SparseSize = (int)sparse,
                Workers = workers,
                Ordered = !opts.Has("W"),
                Progress = new Progress(opts.Has("p") && !quiet, stdout),
            };
            try
            {
                await copier.CopyAsync([.. sources.Select(x => x.Root)], ct).ConfigureAwait(false);
            }
            catch (BlockException e)
            {
                throw new ToolException($"error while converting {outFormat}: {e.Message}");
            }
            if (bitmaps)
            {
                await ConvertBitmaps.CopyAsync(sources[0], output, skipBroken, stderr, ct).ConfigureAwait(false);
            }
            return 0;
        }
        finally
        {
            foreach (var source in sources)
            {
                await source.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
