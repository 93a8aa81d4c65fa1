using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Graph;
using BlockDaemon.ImageTool.Cli;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `compare [-f FMT] [-F FMT] [-p] [-q] [-s] [-U] FILENAME1 FILENAME2`: whether the two images
/// read the same, walking both maps so that ranges both know to be zero are not read. Exit codes
/// as qemu-img's: 0 identical, 1 different, 2 an image could not be opened, 4 a read failed.
/// With -s (strict) the sizes and the allocation status of every range must match as well.
/// </summary>
public static class CompareCommand
{
    private const int BufferSize = 2 << 20;
    private const int SectorSize = 512;

    private static readonly OptionSpec[] Specs =
    [
        CommandLine.Value('f'),
        CommandLine.Value('F'),
        CommandLine.Value('T'),
        CommandLine.Flag('p'),
        CommandLine.Flag('q'),
        CommandLine.Flag('s'),
        CommandLine.ForceShareOption,
        CommandLine.HelpOption,
    ];

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        if (opts.Operands.Count != 2)
        {
            throw ToolException.UsageError("Expecting two image file names");
        }
        bool quiet = opts.Has("q"), strict = opts.Has("s");
        var progress = new Progress(opts.Has("p") && !quiet, stdout);
        progress.Start();
        string name1 = opts.Operands[0], name2 = opts.Operands[1];
        var mode = CommandLine.ReadMode(opts);
        OpenedImage image1, image2;
        try
        {
            image1 = await ImageOpener.OpenAsync(name1, opts.Last("f"), mode, ct).ConfigureAwait(false);
        }
        catch (ToolException e)
        {
            throw new ToolException(e.Message, 2);
        }
        await using (image1.ConfigureAwait(false))
        {
            try
            {
                image2 = await ImageOpener.OpenAsync(name2, opts.Last("F") ?? opts.Last("f"), mode, ct).ConfigureAwait(false);
            }
            catch (ToolException e)
            {
                throw new ToolException(e.Message, 2);
            }
            await using (image2.ConfigureAwait(false))
            {
                (string Text, int Code) verdict;
                try
                {
                    verdict = await CompareAsync(image1, image2, strict, progress, ct).ConfigureAwait(false);
                }
                catch (ReadFailure e)
                {
                    progress.End();
                    stderr.Write($"{ImageTool.Name}: Error while reading offset {e.Offset} of {e.Filename}: {e.InnerException!.Message}\n");
                    return 4;
                }
                progress.End();
                if (!quiet)
                {
                    stdout.Write(verdict.Text + "\n");
                }
                return verdict.Code;
            }
        }
    }

    private sealed class ReadFailure(long offset, string filename, Exception inner) : Exception(null, inner)
    {
        public long Offset => offset;
        public string Filename => filename;
    }

    /// <summary>What qemu-img says about the first difference (or that there is none), and the exit code.</summary>
    private static async ValueTask<(string Text, int Code)> CompareAsync(OpenedImage a, OpenedImage b, bool strict, Progress progress, CancellationToken ct)
    {
        long size1 = a.Root.Length, size2 = b.Root.Length;
        if (strict && size1 != size2)
        {
            return ("Strict mode: Image size mismatch!", 1);
        }
        long common = Math.Min(size1, size2);
        var buf1 = new byte[BufferSize];
        var buf2 = new byte[BufferSize];
        for (long offset = 0; offset < common;)
        {
            var e1 = await BlockMap.GetExtentAsync(a.Root, offset, size1 - offset, ct).ConfigureAwait(false);
            var e2 = await BlockMap.GetExtentAsync(b.Root, offset, size2 - offset, ct).ConfigureAwait(false);
            long chunk = Math.Min(Math.Min(e1.Length, e2.Length), common - offset);
            if (strict && Status(e1) != Status(e2))
            {
                return ($"Strict mode: Offset {offset} block status mismatch!", 1);
            }
            if (e1.Zero && e2.Zero)
            {
                // Both read as zeroes: nothing to compare.
            }
            else if (e1.Present == e2.Present)
            {
                if (e1.Present)
                {
                    chunk = Math.Min(chunk, BufferSize);
                    await ReadAsync(a, offset, buf1.AsMemory(0, (int)chunk), ct).ConfigureAwait(false);
                    await ReadAsync(b, offset, buf2.AsMemory(0, (int)chunk), ct).ConfigureAwait(false);
                    if (FirstDifferentSector(buf1.AsSpan(0, (int)chunk), buf2.AsSpan(0, (int)chunk)) is { } at)
                    {
                        return ($"Content mismatch at offset {offset + at}!", 1);
                    }
                }
            }
            else
            {
                chunk = Math.Min(chunk, BufferSize);
                var which = e1.Present ? a : b;
                if (await FirstNonZeroAsync(which, offset, buf1.AsMemory(0, (int)chunk), ct).ConfigureAwait(false) is { } at)
                {
                    return ($"Content mismatch at offset {at}!", 1);
                }
            }
            offset += chunk;
            progress.Report(offset, Math.Max(size1, size2));
        }
        if (size1 != size2)
        {
            var over = size1 > size2 ? a : b;
            long end = Math.Max(size1, size2);
            string? mismatch = null;
            for (long offset = common; offset < end;)
            {
                var e = await BlockMap.GetExtentAsync(over.Root, offset, end - offset, ct).ConfigureAwait(false);
                long chunk = e.Length;
                if (e.Present)
                {
                    chunk = Math.Min(chunk, BufferSize);
                    if (await FirstNonZeroAsync(over, offset, buf1.AsMemory(0, (int)chunk), ct).ConfigureAwait(false) is { } at)
                    {
                        mismatch = $"Content mismatch at offset {at}!";
                        break;
                    }
                }
                offset += chunk;
            }
            // The warning comes first, whatever the verdict.
            return ("Warning: Image size mismatch!\n" + (mismatch ?? "Images are identical."), mismatch is null ? 0 : 1);
        }
        return ("Images are identical.", 0);
    }

    private static (bool, bool, bool, bool) Status(MapExtent e) => (e.Present, e.Zero, e.Data, e.HostOffset >= 0);

    private static async ValueTask ReadAsync(OpenedImage image, long offset, Memory<byte> buffer, CancellationToken ct)
    {
        try
        {
            await image.Root.ReadAsync(offset, buffer, ct).ConfigureAwait(false);
        }
        catch (BlockException e)
        {
            throw new ReadFailure(offset, image.Filename, e);
        }
    }

    private static async ValueTask<long?> FirstNonZeroAsync(OpenedImage image, long offset, Memory<byte> buffer, CancellationToken ct)
    {
        await ReadAsync(image, offset, buffer, ct).ConfigureAwait(false);
        int index = buffer.Span.IndexOfAnyExcept((byte)0);
        return index < 0 ? null : offset + index / SectorSize * SectorSize;
    }

    private static long? FirstDifferentSector(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        for (int i = 0; i < a.Length; i += SectorSize)
        {
            int n = Math.Min(SectorSize, a.Length - i);
            if (!a.Slice(i, n).SequenceEqual(b.Slice(i, n)))
            {
                return i;
            }
        }
        return null;
    }
}
