using System.Text.Json.Nodes;
using BlockDaemon.Core.Graph;
using BlockDaemon.Core.Io;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qcow2.Create;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `measure [--output=human|json] [-O FMT] [-o OPTIONS] [--size N | [-f FMT] [-U] FILE]`: the file
/// size a new image would need (qemu-img's qcow2_measure / raw_measure): "required" for the
/// source's allocated data (or nothing, with --size), "fully allocated" for every cluster.
/// </summary>
public static class MeasureCommand
{
    private static readonly OptionSpec[] Specs =
    [
        CommandLine.Value('f'),
        CommandLine.Value('O'),
        CommandLine.Value('o'),
        new(null, "size", true, "size"),
        CommandLine.OutputOption,
        CommandLine.ForceShareOption,
        CommandLine.HelpOption,
    ];

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        var output = Output.Parse(opts.Last("output"));
        string format = opts.Last("O") ?? "raw";
        ImageOpener.CheckFormat(format);
        long? size = null;
        if (opts.Last("size") is { } sizeText)
        {
            size = CreateCommand.ParseImageSize(sizeText);
        }
        if (size is null && opts.Operands.Count == 0)
        {
            throw new ToolException("Either --size N or one filename must be specified.");
        }
        if (size is not null && opts.Operands.Count > 0)
        {
            throw new ToolException("--size N cannot be used together with a filename.");
        }
        if (opts.Operands.Count > 1)
        {
            throw new ToolException("At most one filename argument is allowed.");
        }
        var list = CommandLine.CreateOptions(format, opts);
        OpenedImage? source = null;
        if (opts.Operands.Count == 1)
        {
            source = await ImageOpener.OpenAsync(opts.Operands[0], opts.Last("f"), CommandLine.ReadMode(opts), ct).ConfigureAwait(false);
        }
        await using (source)
        {
            JsonObject result = format == "qcow2"
                ? await Qcow2Async(list, source, size ?? 0, ct).ConfigureAwait(false)
                : await RawAsync(source, size ?? 0, ct).ConfigureAwait(false);
            if (output == OutputFormat.Json)
            {
                Output.WriteJson(stdout, result);
            }
            else
            {
                stdout.Write($"required size: {HumanInfo.L(result["required"])}\nfully allocated size: {HumanInfo.L(result["fully-allocated"])}\n");
                if (result["bitmaps"] is { } bitmaps)
                {
                    stdout.Write($"bitmaps size: {HumanInfo.L(bitmaps)}\n");
                }
            }
        }
        return 0;
    }

    private static ValueTask<JsonObject> RawAsync(OpenedImage? source, long size, CancellationToken ct)
    {
        _ = ct;
        // Unallocated sectors count towards the file size of a raw image.
        long required = source?.Root.Length ?? (size + 511) / 512 * 512;
        return ValueTask.FromResult(new JsonObject { ["required"] = required, ["fully-allocated"] = required });
    }

    private static async ValueTask<JsonObject> Qcow2Async(CreateOptionList list, OpenedImage? source, long size, CancellationToken ct)
    {
        var o = ImageCreator.ToQcow2(list, Math.Max(512, size / 512 * 512));
        long cs = o.ClusterSize;
        long virtualSize = source is null ? (size + 511) / 512 * 512 : RoundUp(source.Root.Length, cs);
        long required = 0;
        if (source is not null)
        {
            if (o.BackingFile is not null)
            {
                // Nothing is known about what a new backing file shares: assume every cluster is written.
                required = virtualSize;
            }
            else
            {
                long length = source.Root.Length;
                for (long offset = 0; offset < length;)
                {
                    var e = await BlockMap.GetExtentAsync(source.Root, offset, length - offset, ct).ConfigureAwait(false);
                    long run = e.Length;
                    if (!e.Zero && e.Data && e.Present)
                    {
                        run = RoundUp(offset + run, cs) - offset;
                        required += offset % cs + run;
                    }
                    offset += Math.Max(1, run);
                }
            }
        }
        if (o.Preallocation is Preallocation.Full or Preallocation.Falloc)
        {
            required = virtualSize;
        }
        long fully = PreallocSize(virtualSize, cs, System.Numerics.BitOperations.Log2((uint)o.RefcountBits), o.ExtendedL2);
        var result = new JsonObject
        {
            ["required"] = fully - virtualSize + required,
            ["fully-allocated"] = fully,
        };
        // Bitmaps are shown only when both the new image and the source can hold persistent ones (version 3).
        if (o.Version >= 3 && source?.Format == "qcow2" && SourceCompat(source) == "1.1")
        {
            result["bitmaps"] = BitmapsSize(source, cs);
        }
        return result;
    }

    private static string? SourceCompat(OpenedImage source) =>
        (source.Node.Driver as IImageInfoSource)?.GetImageInfo().FormatSpecific.FirstOrDefault(p => p.Key == "compat").Value as string;

    private static long RoundUp(long value, long to) => (value + to - 1) / to * to;

    /// <summary>qcow2_calc_prealloc_size: header, L2 and L1 tables, refcount structures and every data cluster.</summary>
    public static long PreallocSize(long totalSize, long cs, int refcountOrder, bool extendedL2)
    {
        long aligned = RoundUp(totalSize, cs);
        long l2EntrySize = extendedL2 ? 16 : 8;
        long meta = cs;
        long l2Entries = RoundUp(aligned / cs, cs / l2EntrySize);
        meta += l2Entries * l2EntrySize;
        long l1Entries = RoundUp(l2Entries * l2EntrySize / cs, cs / 8);
        meta += l1Entries * 8;
        meta += RefcountMetadataSize((meta + aligned) / cs, cs, refcountOrder);
        return meta + aligned;
    }

    // The fixed point where the refcount blocks and table count themselves too.
    private static long RefcountMetadataSize(long clusters, long cs, int refcountOrder)
    {
        long blocksPerTableCluster = cs / 8;
        long refcountsPerBlock = cs * 8 / (1L << refcountOrder);
        long table = 0, blocks = 0, n = 0, last;
        do
        {
            last = n;
            blocks = (clusters + table + blocks + refcountsPerBlock - 1) / refcountsPerBlock;
            table = (blocks + blocksPerTableCluster - 1) / blocksPerTableCluster;
            n = clusters + blocks + table;
        }
        while (n != last);
        return (blocks + table) * cs;
    }

    /// <summary>Room for the source's persistent bitmaps: data and table clusters, and the directory.</summary>
    private static long BitmapsSize(OpenedImage source, long cs)
    {
        var info = (source.Node.Driver as IImageInfoSource)?.GetImageInfo();
        var bitmaps = info?.FormatSpecific.FirstOrDefault(p => p.Key == "bitmaps").Value as System.Collections.IEnumerable;
        long size = 0, directory = 0;
        foreach (var bitmap in bitmaps?.Cast<IEnumerable<KeyValuePair<string, object?>>>() ?? [])
        {
            var fields = bitmap.ToDictionary(p => p.Key, p => p.Value);
            long granularity = Convert.ToInt64(fields["granularity"], System.Globalization.CultureInfo.InvariantCulture);
            string name = (string)fields["name"]!;
            long bits = (source.Root.Length + granularity - 1) / granularity;
            long clusters = ((bits + 7) / 8 + cs - 1) / cs;
            size += clusters * cs + RoundUp(clusters * 8, cs);
            directory += RoundUp(24 + System.Text.Encoding.UTF8.GetByteCount(name), 8);
        }
        return size + RoundUp(directory, cs);
    }
}
