using System.Globalization;

namespace BlockDaemon.Bench.Qcow2;

internal enum AccessPattern { Seq, Rand }

/// <summary>
/// The command line: qemu-img bench's options with its meaning (-c -d -f -i -n -o -q -s -S -t -w -U),
/// plus what qemu-img lacks (--pattern seq|rand, --batch, verification, diagnostics).
/// </summary>
internal sealed class BenchOptions
{
    public required string Filename { get; init; }
    public string Format { get; init; } = "qcow2";
    public int Count { get; init; } = 75000;
    public int Depth { get; init; } = 64;
    public int BufferSize { get; init; } = 4096;
    public long Step { get; init; }
    public long Offset { get; init; }
    public bool Write { get; init; }
    public string Cache { get; init; } = "writeback";
    public string Aio { get; init; } = "threads";
    public bool ForceShare { get; init; }
    public bool Quiet { get; init; }
    public AccessPattern Pattern { get; init; } = AccessPattern.Seq;
    public int Seed { get; init; } = 1;
    public byte Fill { get; init; }
    public bool Batch { get; init; }
    public int? Warmup { get; init; }
    public bool ReadBack { get; init; }
    public ExpectedData? Verify { get; init; }
    public bool Tap { get; init; }
    public bool Profile { get; init; }
    public bool QemuIo { get; init; }
    public string QemuIoPath { get; init; } = "/usr/bin/qemu-io";
    public double TimeoutSeconds { get; init; } = 600;

    /// <summary>Bytes between request starts (qemu-img: -S, default the request size).</summary>
    public long EffectiveStep => Step != 0 ? Step : BufferSize;

    public const string Usage = """
        usage: Qcow2Bench [options] FILENAME

        qemu-img bench for blockd's drivers, in process: COUNT requests of SIZE bytes, DEPTH in
        flight, through a block graph FMT -> file opened on FILENAME. Prints, like qemu-img bench,
        "Run completed in N.NNN seconds." (the timed pass only), then blockd's own figures.

        qemu-img bench's options, same meaning and defaults:
          -c COUNT         requests (default 75000)
          -d DEPTH         requests in flight (default 64)
          -f FMT           qcow2 (default) or raw
          -i AIO           file aio option (default threads)
          -n               aio=native (needs -t none/directsync)
          -o OFFSET        offset of the first request (default 0)
          -s SIZE          bytes per request (default 4096; suffixes k M G T)
          -S STEP          seq: offset advance per request (default SIZE); offsets wrap modulo the
                           image size, as in qemu-img
          -t CACHE         writeback (default, buffered), none (O_DIRECT), unsafe (no flushes),
                           writethrough, directsync (FUA on every write)
          -w               write test (default: read)
          -U               force-share=on (read tests only)
          -q               quiet: only the "Run completed" line and the result line

        Beyond qemu-img bench:
          --pattern seq|rand  seq (default): qemu-img's order. rand: offsets drawn uniformly from
                           [OFFSET, image size) in multiples of SIZE (with replacement), seeded
          --seed N         random seed for --pattern rand (default 1)
          --fill BYTE      byte written by write tests (qemu-img bench's --pattern; default 0)
          --batch          submit DEPTH requests, wait for all of them, repeat (what a qemu-io
                           script of DEPTH aio_write lines and an aio_flush does)
          --warmup N       untimed requests before the timed pass (default: min(COUNT, 10000));
                           write tests warm up on a scratch copy of FILENAME
          --read-back      write tests: after the timed writes, read every offset back (untimed,
                           checked against --fill)
          --verify P[,P..][:STRIDE]  read tests: the byte at offset x must be
                           P[(x / STRIDE) % n] (STRIDE default 64k); checked in the warm-up pass
                           and in one untimed pass after the timed one
          --tap            put a counting filter between FMT and its file node: ops, bytes, time
                           and peak concurrency of the I/O the format driver issues
          --profile        also sample requests in flight per node every millisecond
          --timeout SECS   bound on the whole run (default 600)

        QEMU's side of --pattern rand (qemu-img bench has no random order):
          --qemu-io        instead of blockd, drive qemu-io with the same offsets: batches of DEPTH
                           "aio_write -q -P FILL off SIZE" (aio_read for reads) each followed by
                           aio_flush (a drain in qemu-io); timed between two markers on its stdout
          --qemu-io-path P qemu-io binary (default /usr/bin/qemu-io)

        Exit codes: 0 done, 1 the run failed (message says why), 2 bad command line.
        """;

    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        string? filename = null;
        string format = "qcow2", cache = "writeback", aio = "threads", qemuIoPath = "/usr/bin/qemu-io";
        int count = 75000, depth = 64, bufferSize = 4096, seed = 1;
        int? warmup = null;
        long step = 0, offset = 0;
        bool write = false, forceShare = false, quiet = false, batch = false, readBack = false;
        bool tap = false, profile = false, qemuIo = false, native = false;
        byte fill = 0;
        double timeout = 600;
        var pattern = AccessPattern.Seq;
        ExpectedData? verify = null;

        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string Value()
            {
                if (i + 1 >= args.Count)
                {
                    throw new UsageException($"option {arg} needs a value");
                }
                return args[++i];
            }

            switch (arg)
            {
                case "-c": count = (int)ParseNumber(arg, Value(), 1, int.MaxValue); break;
                case "-d": depth = (int)ParseNumber(arg, Value(), 1, 4096); break;
                case "-f": format = Value(); break;
                case "-i": aio = Value(); break;
                case "-n": native = true; break;
                case "-o": offset = ParseSize(arg, Value(), 0, long.MaxValue); break;
                case "-s": bufferSize = (int)ParseSize(arg, Value(), 1, 1 << 30); break;
                case "-S": step = ParseSize(arg, Value(), 0, int.MaxValue); break;
                case "-t": cache = Value(); break;
                case "-w": write = true; break;
                case "-U": forceShare = true; break;
                case "-q": quiet = true; break;
                case "--pattern":
                    pattern = Value() switch
                    {
                        "seq" => AccessPattern.Seq,
                        "rand" => AccessPattern.Rand,
                        var other => throw new UsageException(
                            $"--pattern takes seq or rand, not '{other}' (qemu-img bench's fill byte is --fill here)"),
                    };
                    break;
                case "--seed": seed = (int)ParseNumber(arg, Value(), 0, int.MaxValue); break;
                case "--fill": fill = (byte)ParseNumber(arg, Value(), 0, 255); break;
                case "--batch": batch = true; break;
                case "--warmup": warmup = (int)ParseNumber(arg, Value(), 0, int.MaxValue); break;
                case "--read-back": readBack = true; break;
                case "--verify": verify = ExpectedData.Parse(Value()); break;
                case "--tap": tap = true; break;
                case "--profile": profile = true; break;
                case "--qemu-io": qemuIo = true; break;
                case "--qemu-io-path": qemuIoPath = Value(); break;
                case "--timeout": timeout = ParseNumber(arg, Value(), 1, 86400); break;
                case "-h" or "--help": throw new HelpRequested();
                default:
                    if (arg.StartsWith('-') && arg.Length > 1)
                    {
                        throw new UsageException($"unknown option {arg}");
                    }
                    if (filename is not null)
                    {
                        throw new UsageException("expecting one image file name");
                    }
                    filename = arg;
                    break;
            }
        }

        if (filename is null)
        {
            throw new UsageException("expecting one image file name");
        }
        if (native)
        {
            aio = "native";
        }
        if (cache is not ("writeback" or "none" or "unsafe" or "writethrough" or "directsync"))
        {
            throw new UsageException($"invalid cache mode '{cache}'");
        }
        if (format is not ("qcow2" or "raw"))
        {
            throw new UsageException($"-f takes qcow2 or raw, not '{format}'");
        }
        if (readBack && !write)
        {
            throw new UsageException("--read-back is for write tests (-w)");
        }
        if (verify is not null && write)
        {
            throw new UsageException("--verify is for read tests; write tests check with --read-back");
        }
        if (forceShare && write)
        {
            throw new UsageException("-U (force-share) is for read tests only");
        }
        if (qemuIo && (tap || profile))
        {
            throw new UsageException("--tap and --profile measure blockd; they do not apply to --qemu-io");
        }

        return new BenchOptions
        {
            Filename = filename,
            Format = format,
            Count = count,
            Depth = depth,
            BufferSize = bufferSize,
            Step = step,
            Offset = offset,
            Write = write,
            Cache = cache,
            Aio = aio,
            ForceShare = forceShare,
            Quiet = quiet,
            Pattern = pattern,
            Seed = seed,
            Fill = fill,
            Batch = batch,
            Warmup = warmup,
            ReadBack = readBack,
            Verify = verify,
            Tap = tap,
            Profile = profile,
            QemuIo = qemuIo,
            QemuIoPath = qemuIoPath,
            TimeoutSeconds = timeout,
        };
    }

    /// <summary>A size as qemu's cvtnum reads it: a number with an optional k/M/G/T/P/E suffix (powers of 1024).</summary>
    public static long ParseSize(string option, string text, long min, long max)
    {
        string digits = text;
        int shift = 0;
        if (text.Length > 0 && char.IsLetter(text[^1]))
        {
            shift = char.ToUpperInvariant(text[^1]) switch
            {
                'B' => 0,
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                'P' => 50,
                'E' => 60,
                _ => throw new UsageException($"invalid size '{text}' for {option}"),
            };
            digits = text[..^1];
        }
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value)
            || value > (long.MaxValue >> shift))
        {
            throw new UsageException($"invalid size '{text}' for {option}");
        }
        value <<= shift;
        if (value < min || value > max)
        {
            throw new UsageException($"{option} must be between {min} and {max}, not {value}");
        }
        return value;
    }

    /// <summary>A number, decimal or 0x-prefixed hexadecimal.</summary>
    public static double ParseNumber(string option, string text, double min, double max)
    {
        double value;
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            if (!long.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long hex))
            {
                throw new UsageException($"invalid number '{text}' for {option}");
            }
            value = hex;
        }
        else if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
        {
            throw new UsageException($"invalid number '{text}' for {option}");
        }
        if (value < min || value > max)
        {
            throw new UsageException($"{option} must be between {min} and {max}, not {text}");
        }
        return value;
    }
}

/// <summary>What a read must return: byte P[(offset / Stride) % n].</summary>
internal sealed class ExpectedData
{
    private ExpectedData(byte[] bytes, long stride)
    {
        Bytes = bytes;
        Stride = stride;
    }

    public byte[] Bytes { get; }
    public long Stride { get; }

    public static ExpectedData Single(byte value) => new([value], 1L << 62);

    public static ExpectedData Parse(string spec)
    {
        string[] parts = spec.Split(':');
        if (parts.Length > 2)
        {
            throw new UsageException($"invalid --verify '{spec}'");
        }
        byte[] bytes = [.. parts[0].Split(',').Select(p => (byte)BenchOptions.ParseNumber("--verify", p, 0, 255))];
        long stride = parts.Length == 2 ? BenchOptions.ParseSize("--verify", parts[1], 512, 1L << 40) : 65536;
        return new ExpectedData(bytes, stride);
    }

    /// <summary>The first offset in [offset, offset + data.Length) whose byte is wrong, or -1.</summary>
    public long FindMismatch(long offset, ReadOnlySpan<byte> data)
    {
        long pos = offset;
        while (data.Length > 0)
        {
            long stripe = pos / Stride;
            int len = (int)Math.Min(data.Length, (stripe + 1) * Stride - pos);
            byte want = Bytes[(int)(stripe % Bytes.Length)];
            int bad = data[..len].IndexOfAnyExcept(want);
            if (bad >= 0)
            {
                return pos + bad;
            }
            data = data[len..];
            pos += len;
        }
        return -1;
    }

    public byte ExpectedAt(long offset) => Bytes[(int)(offset / Stride % Bytes.Length)];
}

/// <summary>Bad command line; reported with the usage text and exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

internal sealed class HelpRequested : Exception;

/// <summary>The run could not be carried out; printed as is, exit code 1.</summary>
internal sealed class BenchException : Exception
{
    public BenchException(string message) : base(message) { }
    public BenchException(string message, Exception inner) : base(message, inner) { }
}
