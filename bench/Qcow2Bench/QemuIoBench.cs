using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace BlockDaemon.Bench.Qcow2;

/// <summary>
/// QEMU's side of a --pattern rand run. qemu-img bench only knows a fixed step, so this drives
/// qemu-io with the very offsets blockd gets: "-c aio_write -q ..." (or aio_read) for each
/// request, an "aio_flush" (which in qemu-io only drains, it does not flush) after every DEPTH of
/// them. qemu-io runs -c commands back to back without polling in between, so each batch is
/// submitted at once and drained: blockd's --batch mode does the same. The timed span runs from
/// the output of a "length" command before the first request to that of one after the last
/// drain, read through an unbuffered stdout (stdbuf -o0).
/// </summary>
internal sealed class QemuIoBench(BenchOptions o, TextWriter output)
{
    private const string TimeBinary = "/usr/bin/time";
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    // exec() takes at most 6 MiB of arguments (a quarter of an unlimited stack is capped there);
    // each -c costs its text, a NUL, "-c" and two pointers.
    private const long ArgumentSpace = 5L << 20;

    public async Task RunAsync(CancellationToken ct)
    {
        if (!File.Exists(o.QemuIoPath))
        {
            throw new BenchException($"qemu-io not found at {o.QemuIoPath} (install qemu-utils or pass --qemu-io-path)");
        }
        long imageSize = await VirtualSizeAsync(ct).ConfigureAwait(false);
        long[] offsets = OffsetPlan.Build(o, imageSize, o.Count);
        string fill = string.Create(Inv, $"0x{o.Fill:x2}");

        var timed = new List<string> { "length" };
        AddBatches(timed, offsets, o.Write ? $"aio_write -q -P {fill}" : "aio_read -q");
        timed.Add("length");
        // Untimed, as in blockd's run: every written offset read back and checked (-P). In the
        // same process when it fits (its peak RSS then covers reads too), else in a second one.
        var readBack = new List<string>();
        if (o.ReadBack)
        {
            AddBatches(readBack, [.. offsets.Distinct()], $"aio_read -q -P {fill}");
        }
        if (Size(timed) > ArgumentSpace)
        {
            throw new BenchException($"{o.Count} requests do not fit in qemu-io's command line; use -c {o.Count * ArgumentSpace / Size(timed)} or less");
        }
        bool together = Size(timed) + Size(readBack) <= ArgumentSpace;

        if (!o.Quiet)
        {
            output.WriteLine(string.Create(Inv,
                $"qemu-io: {o.Count} {(o.Write ? "aio_write" : "aio_read")} of {o.BufferSize} bytes, {o.Depth} per batch " +
                $"({(o.Pattern == AccessPattern.Seq ? $"offset {o.Offset}, step {o.EffectiveStep}" : $"random order, seed {o.Seed}")})"));
        }
        var run = await RunQemuIoAsync(together ? [.. timed, .. readBack] : timed, readOnly: !o.Write, ct).ConfigureAwait(false);
        if (!together && readBack.Count > 0)
        {
            await RunQemuIoAsync(["length", .. readBack, "length"], readOnly: true, ct).ConfigureAwait(false);
        }

        double secs = run.Seconds;
        output.WriteLine(string.Create(Inv, $"Run completed in {secs:F3} seconds."));
        if (!o.Quiet)
        {
            double mib = (double)o.Count * o.BufferSize / (1 << 20);
            output.WriteLine(string.Create(Inv,
                $"qemu-io: {mib / secs:F1} MiB/s, {o.Count / secs:F0} req/s; cpu {(run.Cpu < 0 ? "?" : run.Cpu.ToString("F2", Inv))} s (whole process); " +
                $"peak RSS {(run.HwmKb < 0 ? "?" : (run.HwmKb / 1024.0).ToString("F1", Inv))} MiB ({run.HwmSource})" +
                $"{(o.ReadBack ? $"; written offsets read back with -P{(together ? "" : " by a second qemu-io")}, no mismatch" : "")}"));
        }
        output.WriteLine(string.Create(Inv, $"RESULT side=qemu-io secs={secs:F6} cpu={run.Cpu:F3} hwm_kb={run.HwmKb}"));
    }

    private static long Size(List<string> commands) => commands.Sum(c => c.Length + 1 + 3 + 16L);

    private sealed record QemuIoRun(double Seconds, double Cpu, long HwmKb, string HwmSource);

    /// <summary>
    /// Runs qemu-io with COMMANDS as -c arguments. The commands must start and end with "length":
    /// the time between those two outputs is the result.
    /// </summary>
    private async Task<QemuIoRun> RunQemuIoAsync(List<string> commands, bool readOnly, CancellationToken ct)
    {
        bool haveTime = File.Exists(TimeBinary);
        string timeFile = Path.GetTempFileName();
        // The commands exceed the argument space of an exec from here (a quarter of this process's
        // stack limit): bash reads them from a file, lifts its stack limit and execs qemu-io.
        string commandFile = Path.GetTempFileName();
        try
        {
            await File.WriteAllLinesAsync(commandFile, commands, ct).ConfigureAwait(false);
            var psi = new ProcessStartInfo("/bin/bash")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("""
                mapfile -t lines < "$1"; shift
                args=(); for c in "${lines[@]}"; do args+=(-c "$c"); done
                ulimit -s unlimited 2>/dev/null || ulimit -s "$(ulimit -Hs)" 2>/dev/null
                exec "$@" "${args[@]}" "$QCOW2BENCH_IMAGE"
                """);
            psi.ArgumentList.Add("qemu-io-bench");
            psi.ArgumentList.Add(commandFile);
            psi.Environment["QCOW2BENCH_IMAGE"] = o.Filename;
            if (haveTime)
            {
                foreach (string a in new[] { TimeBinary, "-f", "%e %U %S %M", "-o", timeFile })
                {
                    psi.ArgumentList.Add(a);
                }
            }
            foreach (string a in new[] { "stdbuf", "-o0", o.QemuIoPath, "-f", o.Format, "-t", o.Cache, "-i", o.Aio })
            {
                psi.ArgumentList.Add(a);
            }
            if (readOnly)
            {
                psi.ArgumentList.Add("-r");
            }
            if (o.ForceShare)
            {
                psi.ArgumentList.Add("-U");
            }

            using var process = Process.Start(psi) ?? throw new BenchException("could not start qemu-io");
            var stderr = process.StandardError.ReadToEndAsync(ct);
            string? marker = null;
            long start = 0, end = 0;
            (long HwmKb, long RssKb)? procHwm = null;
            var unexpected = new List<string>();
            try
            {
                while (await process.StandardOutput.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
                {
                    if (marker is null)
                    {
                        start = Stopwatch.GetTimestamp();
                        marker = line;
                    }
                    else if (end == 0 && line == marker)
                    {
                        end = Stopwatch.GetTimestamp();
                        if (!haveTime)
                        {
                            procHwm = ProcStatus.Read(process.Id.ToString(Inv));
                        }
                    }
                    else if (unexpected.Count < 20)
                    {
                        unexpected.Add(line);
                    }
                }
                await process.WaitForExitAsync(ct).ConfigureAwait(false);
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill();
                }
            }
            string errors = await stderr.ConfigureAwait(false);
            if (process.ExitCode != 0 || end == 0 || unexpected.Count > 0 || errors.Length > 0)
            {
                throw new BenchException(
                    $"qemu-io failed (exit code {process.ExitCode}{(end == 0 ? ", end marker never seen" : "")}):\n" +
                    string.Join('\n', unexpected.Concat(errors.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(20))));
            }

            double cpu = -1;
            long hwm = procHwm?.HwmKb ?? -1;
            string timeLine = haveTime ? (await File.ReadAllTextAsync(timeFile, ct).ConfigureAwait(false)).Trim() : "";
            // /usr/bin/time -o FILE may start with a "Command exited with non-zero status" line; the figures are the last line.
            string[] fields = timeLine.Split('\n')[^1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 4)
            {
                cpu = double.Parse(fields[1], Inv) + double.Parse(fields[2], Inv);
                hwm = long.Parse(fields[3], Inv);
            }
            return new QemuIoRun(Stopwatch.GetElapsedTime(start, end).TotalSeconds, cpu, hwm,
                haveTime ? "/usr/bin/time" : "VmHWM at the end marker");
        }
        finally
        {
            File.Delete(timeFile);
            File.Delete(commandFile);
        }
    }

    private void AddBatches(List<string> commands, long[] offsets, string op)
    {
        for (int i = 0; i < offsets.Length; i++)
        {
            commands.Add(string.Create(Inv, $"{op} {offsets[i]} {o.BufferSize}"));
            if ((i + 1) % o.Depth == 0 || i == offsets.Length - 1)
            {
                commands.Add("aio_flush");
            }
        }
    }

    private async Task<long> VirtualSizeAsync(CancellationToken ct)
    {
        string qemuImg = Path.Combine(Path.GetDirectoryName(o.QemuIoPath)!, "qemu-img");
        var psi = new ProcessStartInfo(File.Exists(qemuImg) ? qemuImg : "qemu-img")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { "info", "-U", "--output=json", "-f", o.Format, o.Filename })
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi) ?? throw new BenchException("could not start qemu-img");
        var stderr = process.StandardError.ReadToEndAsync(ct);
        string json = await process.StandardOutput.ReadToEndAsync(ct).ConfigureAwait(false);
        await process.WaitForExitAsync(ct).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new BenchException($"qemu-img info {o.Filename} failed: {(await stderr.ConfigureAwait(false)).Trim()}");
        }
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("virtual-size").GetInt64();
    }
}
