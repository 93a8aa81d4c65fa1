using System.Globalization;
using BlockDaemon.Core.Graph;
using BlockDaemon.ImageTool.Cli;
using BlockDaemon.Qmp.Commands;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `map [-f FMT] [--output=human|json] [--start-offset=OFFSET] [--max-length=LEN] [-U] FILENAME`:
/// where each range of the image's contents comes from, down the backing chain (BlockMap), and,
/// for data, the file and offset holding it.
/// </summary>
public static class MapCommand
{
    private static readonly OptionSpec[] Specs =
    [
        CommandLine.FormatOption,
        CommandLine.OutputOption,
        new('s', "start-offset", true, "start"),
        new('l', "max-length", true, "length"),
        CommandLine.ForceShareOption,
        CommandLine.HelpOption,
    ];

    private sealed record Entry(long Start, long Length, int Depth, bool Present, bool Zero, bool Data, long Offset, string? Filename)
    {
        public long Length { get; set; } = Length;
        public bool Zero { get; set; } = Zero;
        public bool Data { get; set; } = Data;
    }

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        var format = Output.Parse(opts.Last("output"));
        long start = 0, maxLength = -1;
        if (opts.Last("start") is { } startText && (!Sizes.TryParse(startText, out start, out _)))
        {
            throw new ToolException("Invalid start offset specified" + Sizes.SuffixHint);
        }
        if (opts.Last("length") is { } lengthText && (!Sizes.TryParse(lengthText, out maxLength, out _)))
        {
            throw new ToolException("Invalid max length specified" + Sizes.SuffixHint);
        }
        string filename = CommandLine.OneImage(opts);
        await using var image = await ImageOpener.OpenAsync(filename, opts.Last("f"), CommandLine.ReadMode(opts), ct).ConfigureAwait(false);
        long length = image.Root.Length;
        if (maxLength != -1)
        {
            length = Math.Min(start + maxLength, length);
        }
        if (format == OutputFormat.Human)
        {
            stdout.Write(string.Format(CultureInfo.InvariantCulture, "{0,-16}{1,-16}{2,-16}{3}\n", "Offset", "Length", "Mapped to", "File"));
        }
        else
        {
            stdout.Write('[');
        }
        // qemu-img's loop: extend the current entry while the next is mergeable, print it when not.
        var names = new Dictionary<BlockNode, string>();
        Entry current = new(start, 0, 0, false, false, false, -1, null);
        while (current.Start + current.Length < length)
        {
            long offset = current.Start + current.Length;
            var e = await BlockMap.GetExtentAsync(image.Root, offset, length - offset, ct).ConfigureAwait(false);
            string? file = e.HostOffset >= 0 && e.HostNode is { } host ? Name(names, host) : null;
            var next = new Entry(offset, e.Length, e.Depth, e.Present, e.Zero, e.Data, e.HostOffset, file);
            if (Mergeable(current, next))
            {
                current.Length += next.Length;
                continue;
            }
            if (current.Length > 0 && !Dump(format, current, next, stdout, stderr))
            {
                return 1;
            }
            current = next;
        }
        if (!Dump(format, current, null, stdout, stderr))
        {
            return 1;
        }
        if (format == OutputFormat.Json)
        {
            stdout.Write("]\n");
        }
        return 0;
    }

    private static string Name(Dictionary<BlockNode, string> names, BlockNode node)
    {
        if (!names.TryGetValue(node, out var name))
        {
            name = NodeFilename.For(node);
            names[node] = name;
        }
        return name;
    }

    private static bool Mergeable(Entry a, Entry b) =>
        a.Length != 0 && a.Zero == b.Zero && a.Data == b.Data && a.Depth == b.Depth && a.Present == b.Present
        && a.Filename == b.Filename && (a.Offset >= 0) == (b.Offset >= 0)
        && (a.Offset < 0 || a.Offset + a.Length == b.Offset);

    private static bool Dump(OutputFormat format, Entry e, Entry? next, TextWriter stdout, TextWriter stderr)
    {
        if (format == OutputFormat.Human)
        {
            if (e.Data && e.Offset < 0)
            {
                stdout.Flush();
                stderr.Write($"{ImageTool.Name}: File contains external, encrypted or compressed clusters.\n");
                return false;
            }
            if (e.Data && !e.Zero)
            {
                stdout.Write($"{Hex(e.Start),-16}{Hex(e.Length),-16}{Hex(e.Offset),-16}{e.Filename}\n");
            }
            // Human output does not tell zero from unallocated; qemu-img folds them for coalescing.
            if (next is not null && (!next.Data || next.Zero))
            {
                next.Data = false;
                next.Zero = true;
            }
            return true;
        }
        stdout.Write($"{{ \"start\": {e.Start}, \"length\": {e.Length}, \"depth\": {e.Depth}, \"present\": {Bool(e.Present)}, \"zero\": {Bool(e.Zero)}, \"data\": {Bool(e.Data)}");
        if (e.Offset >= 0)
        {
            stdout.Write($", \"offset\": {e.Offset}");
        }
        stdout.Write('}');
        if (next is not null)
        {
            stdout.Write(",\n");
        }
        return true;
    }

    private static string Bool(bool b) => b ? "true" : "false";

    // C's %#x: no 0x prefix for zero.
    private static string Hex(long value) => value == 0 ? "0" : "0x" + value.ToString("x", CultureInfo.InvariantCulture);
}
