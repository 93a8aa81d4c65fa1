using System.Diagnostics;
using System.Globalization;
using BlockDaemon.Core.Errors;
using BlockDaemon.Core.Io;
using BlockDaemon.ImageTool.Cli;

namespace BlockDaemon.ImageTool.Commands;

/// <summary>
/// `bench [-c count] [-d depth] [-f fmt] [--flush-interval=N] [--no-drain] [-i aio] [-n]
/// [-o offset] [--pattern=N] [-q] [-s size] [-S step] [-t cache] [-U] [-w] filename`: sends
/// COUNT requests of SIZE bytes, DEPTH at a time, from OFFSET on in STEP strides (wrapping
/// at the end of the image), and prints qemu-img bench's two summary lines. Differences:
/// a depth of 0, on which qemu-img 7.2 waits forever, is refused; every request shares one
/// buffer, so memory is SIZE bytes rather than DEPTH times SIZE; cache and aio modes are
/// checked as qemu-img checks them but blockimg's I/O is always through the page cache.
/// </summary>
public static class BenchCommand
{
    private static readonly OptionSpec[] Specs =
    [
        CommandLine.Value('c'),
        CommandLine.Value('d'),
        CommandLine.Value('f'),
        CommandLine.Value('i'),
        CommandLine.Flag('n'),
        CommandLine.Value('o'),
        CommandLine.Flag('q'),
        CommandLine.Value('s'),
        CommandLine.Value('S'),
        CommandLine.Value('t'),
        CommandLine.Flag('w'),
        CommandLine.Flag('U'),
        new(null, "pattern", true, "pattern"),
        new(null, "flush-interval", true, "flush-interval"),
        new(null, "no-drain", false, "no-drain"),
        CommandLine.HelpOption,
    ];

    public static async ValueTask<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (CommandLine.ParseOrHelp(args, Specs, stdout) is not { } opts)
        {
            return 0;
        }
        int count = 75000, depth = 64, bufferSize = 4096, step = 0, flushInterval = 0;
        long offset = 0;
        byte pattern = 0;
        bool direct = false, nativeAio = false;
        // qemu-img converts each option as getopt returns it, so the first bad one is reported.
        foreach (var (key, value) in opts.Options)
        {
            switch (key)
            {
                case "c":
                    count = Unsigned(value!, int.MaxValue, "Invalid request count specified");
                    break;
                case "d":
                    depth = Unsigned(value!, int.MaxValue, "Invalid queue depth specified");
                    break;
                case "n":
                    nativeAio = true;
                    break;
                case "i":
                    nativeAio = value switch
                    {
                        "native" => true,
                        "threads" or "io_uring" => false,
                        _ => throw new ToolException($"Invalid aio option: {value}"),
                    };
                    break;
                case "o":
                    offset = Size(value!, "offset", long.MaxValue);
                    break;
                case "s":
                    bufferSize = (int)Size(value!, "buffer size", int.MaxValue);
                    break;
                case "S":
                    step = (int)Size(value!, "step_size", int.MaxValue);
                    break;
                case "t":
                    direct = value switch
                    {
                        "none" or "directsync" => true,
                        "writeback" or "unsafe" or "writethrough" => false,
                        _ => throw new ToolException("Invalid cache mode"),
                    };
                    break;
                case "pattern":
                    pattern = (byte)Unsigned(value!, 0xff, "Invalid pattern byte specified");
                    break;
                case "flush-interval":
                    flushInterval = Unsigned(value!, int.MaxValue, "Invalid flush interval specified");
                    break;
            }
        }
        bool write = opts.Has("w");
        string filename = opts.Operands.Count == 1 ? opts.Operands[0] : throw ToolException.UsageError("Expecting one image file name");
        if (!write && flushInterval != 0)
        {
            throw new ToolException("--flush-interval is only available in write tests");
        }
        if (flushInterval != 0 && flushInterval < depth)
        {
            throw new ToolException("Flush interval can't be smaller than depth");
        }
        if (depth == 0)
        {
            // qemu-img would never send a request and never finish.
            throw new ToolException("Invalid queue depth specified");
        }
        if (write && opts.Has("U"))
        {
            throw new ToolException($"Could not open '{filename}': force-share=on can only be used with read-only images");
        }
        if (nativeAio && !direct)
        {
            throw new ToolException($"Could not open '{filename}': aio=native was specified, but it requires cache.direct=on, which was not specified.");
        }
        await using var image = await ImageOpener.OpenAsync(filename, opts.Last("f"),
            new OpenMode { Writable = write, ForceShare = opts.Has("U") }, ct, stderr: stderr).ConfigureAwait(false);
        if (step == 0)
        {
            step = bufferSize;
        }
        stdout.Write(string.Create(CultureInfo.InvariantCulture,
            $"Sending {count} {(write ? "write" : "read")} requests, {bufferSize} bytes each, {depth} in parallel (starting at offset {offset}, step size {step})\n"));
        if (flushInterval != 0)
        {
            stdout.Write($"Sending flush every {flushInterval} requests\n");
        }
        await stdout.FlushAsync(ct).ConfigureAwait(false);

        var buffer = new byte[bufferSize];
        Array.Fill(buffer, pattern);
        long imageSize = image.Root.Length;
        int slots = (int)Math.Min(depth, Math.Max(1, count));
        using var gate = new SemaphoreSlim(slots, slots);
        BlockException? failure = null;
        var root = image.Root;

        async Task OneAsync(long at)
        {
            try
            {
                if (write)
                {
                    await root.WriteAsync(at, buffer, WriteFlags.None, ct).ConfigureAwait(false);
                }
                else
                {
                    await root.ReadAsync(at, buffer, ct).ConfigureAwait(false);
                }
            }
            catch (BlockException e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
            }
            finally
            {
                gate.Release();
            }
        }

        async ValueTask DrainAsync()
        {
            for (int i = 0; i < slots; i++)
            {
                await gate.WaitAsync(ct).ConfigureAwait(false);
            }
            gate.Release(slots);
        }

        var clock = Stopwatch.StartNew();
        int sinceFlush = 0;
        for (int i = 0; i < count && failure is null; i++)
        {
            if (flushInterval != 0 && sinceFlush >= flushInterval)
            {
                if (!opts.Has("no-drain"))
                {
                    await DrainAsync().ConfigureAwait(false);
                }
                await root.FlushAsync(ct).ConfigureAwait(false);
                sinceFlush = 0;
            }
            await gate.WaitAsync(ct).ConfigureAwait(false);
            long at = offset;
            offset += step;
            // As qemu-img wraps: a request may then cross the end, and fails there.
            offset = imageSize == 0 ? 0 : offset % imageSize;
            _ = OneAsync(at);
            sinceFlush++;
        }
        await DrainAsync().ConfigureAwait(false);
        clock.Stop();
        if (failure is { } f)
        {
            throw new ToolException($"Failed request: {Errno.Text(f.Errno != 0 ? f.Errno : Errno.EIo)}");
        }
        stdout.Write(string.Create(CultureInfo.InvariantCulture, $"Run completed in {clock.Elapsed.TotalSeconds:0.000} seconds.\n"));
        return 0;
    }

    // qemu_strtoul with base 0 (decimal, 0x hex, 0 octal) and an upper bound.
    private static int Unsigned(string text, long max, string error)
    {
        string s = text.Trim();
        ulong value;
        bool ok = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
            : s.Length > 1 && s[0] == '0'
                ? TryOctal(s[1..], out value)
                : ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        if (!ok || value > (ulong)max)
        {
            throw new ToolException(error);
        }
        return (int)value;
    }

    private static bool TryOctal(string digits, out ulong value)
    {
        value = 0;
        foreach (char c in digits)
        {
            if (c is < '0' or > '7' || value > ulong.MaxValue / 8)
            {
                return false;
            }
            value = value * 8 + (ulong)(c - '0');
        }
        return true;
    }

    // cvtnum_full(name, value, 0, max).
    private static long Size(string text, string name, long max)
    {
        if (!Sizes.TryParse(text, out long value, out bool outOfRange))
        {
            if (!outOfRange)
            {
                throw new ToolException($"Invalid {name} specified" + Sizes.SuffixHint);
            }
            value = -1;
        }
        if (value < 0 || value > max)
        {
            throw new ToolException($"Invalid {name} specified. Must be between 0 and {max}.");
        }
        return value;
    }
}
