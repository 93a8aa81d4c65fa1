using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace BlockDaemon.Bench.QmpLatency;

/// <summary>Everything measured for one daemon.</summary>
internal sealed record DaemonResult(DaemonSpec Spec, Summary StartupMilliseconds, LatencyResult Latency, bool KilledOnStop);

/// <summary>Renders the results as a text table with blockd/qsd ratios, and as JSON.</summary>
internal sealed class Report
{
    private sealed record Metric(string Key, string Name, string Unit, Func<DaemonResult, double> Value);

    private static readonly Metric[] Metrics =
    [
        new("startup_median_ms", "start-up median", "ms", r => r.StartupMilliseconds.Median),
        new("startup_p90_ms", "start-up p90", "ms", r => r.StartupMilliseconds.P90),
        new("qmp_rtt_median_us", "QMP round trip median", "us", r => r.Latency.RoundTripMicroseconds.Median),
        new("qmp_rtt_p90_us", "QMP round trip p90", "us", r => r.Latency.RoundTripMicroseconds.P90),
        new("qmp_rtt_p99_us", "QMP round trip p99", "us", r => r.Latency.RoundTripMicroseconds.P99),
        new("qmp_total_ms", "QMP total", "ms", r => r.Latency.TotalMilliseconds),
        new("idle_rss_kib", "idle RSS", "KiB", r => r.Latency.Memory.RssKiB),
        new("idle_rss_anon_kib", "idle RSS anonymous", "KiB", r => r.Latency.Memory.AnonKiB),
        new("idle_rss_file_kib", "idle RSS file-backed", "KiB", r => r.Latency.Memory.FileKiB),
    ];

    private readonly BenchOptions _options;
    private readonly IReadOnlyList<DaemonResult> _results;
    private readonly DateTimeOffset _startedAt;

    public Report(BenchOptions options, IReadOnlyList<DaemonResult> results, DateTimeOffset startedAt)
    {
        _options = options;
        _results = results;
        _startedAt = startedAt;
    }

    private DaemonResult? Blockd => _results.FirstOrDefault(r => r.Spec.Label == BenchOptions.BlockdLabel);
    private DaemonResult? Qsd => _results.FirstOrDefault(r => r.Spec.Label == BenchOptions.QsdLabel);

    public string ToText()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"qmp-latency, {_startedAt:yyyy-MM-dd HH:mm:ss zzz}");
        foreach (DaemonResult r in _results)
        {
            QmpGreeting g = r.Latency.Greeting;
            string line = string.Create(CultureInfo.InvariantCulture,
                $"  {r.Spec.Label,-7} {r.Spec.Path} ({r.Spec.Origin}); greets as QEMU {g.Version} {g.Package}");
            text.AppendLine(line.TrimEnd());
        }
        text.AppendLine(CultureInfo.InvariantCulture,
            $"  {_options.Runs} start-ups per daemon (+1 untimed), {_options.Calls} calls (+{_options.Warmup} warm-up, " +
            $"in turns of {LatencyBenchmark.BlockSize}), " +
            $"{_options.Nodes} null-co nodes");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"  {Environment.ProcessorCount} CPUs, {RuntimeInformation.OSDescription}, .NET {Environment.Version}");
        text.AppendLine();

        bool ratios = Blockd is not null && Qsd is not null;
        var header = new StringBuilder($"{"metric",-24}{"unit",-6}");
        foreach (DaemonResult r in _results)
            header.Append(CultureInfo.InvariantCulture, $"{r.Spec.Label,12}");
        if (ratios)
            header.Append(CultureInfo.InvariantCulture, $"{"blockd/qsd",13}");
        text.AppendLine(header.ToString());
        text.AppendLine(new string('-', header.Length));

        foreach (Metric m in Metrics)
        {
            text.Append(CultureInfo.InvariantCulture, $"{m.Name,-24}{m.Unit,-6}");
            foreach (DaemonResult r in _results)
                text.Append(CultureInfo.InvariantCulture, $"{m.Value(r),12:0.000}");
            if (ratios)
                text.Append(CultureInfo.InvariantCulture, $"{Ratio(m)!.Value,13:0.000}");
            text.AppendLine();
        }
        if (ratios)
            text.AppendLine().AppendLine("blockd/qsd < 1: blockd is faster (or smaller); > 1: blockd is slower (or larger).");

        foreach (DaemonResult r in _results.Where(r => r.KilledOnStop))
            text.AppendLine(CultureInfo.InvariantCulture,
                $"note: {r.Spec.Label} did not leave on QMP 'quit' at least once and was killed.");
        foreach (DaemonResult r in _results.Where(r => r.Latency.EventsSkipped > 0))
            text.AppendLine(CultureInfo.InvariantCulture,
                $"note: {r.Spec.Label} sent {r.Latency.EventsSkipped} QMP events during the round-trip run.");
        return text.ToString();
    }

    public async Task WriteJsonAsync(string path, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        // Relaxed escaping keeps e.g. the '+' in Debian package versions readable; the file is not HTML.
        await using var json = new Utf8JsonWriter(file, new JsonWriterOptions
        {
            Indented = true,
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        });
        json.WriteStartObject();
        json.WriteString("benchmark", "qmp-latency");
        json.WriteString("timestamp", _startedAt);

        json.WriteStartObject("machine");
        json.WriteNumber("cpus", Environment.ProcessorCount);
        json.WriteString("os", RuntimeInformation.OSDescription);
        json.WriteString("dotnet", Environment.Version.ToString());
        json.WriteEndObject();

        json.WriteStartObject("settings");
        json.WriteNumber("runs", _options.Runs);
        json.WriteNumber("calls", _options.Calls);
        json.WriteNumber("warmup", _options.Warmup);
        json.WriteNumber("idle_ms", _options.Idle.TotalMilliseconds);
        json.WriteNumber("nodes", _options.Nodes);
        json.WriteNumber("timeout_s", _options.Timeout.TotalSeconds);
        json.WriteEndObject();

        json.WriteStartObject("daemons");
        foreach (DaemonResult r in _results)
        {
            json.WriteStartObject(r.Spec.Label);
            json.WriteString("path", r.Spec.Path);
            json.WriteString("origin", r.Spec.Origin);
            json.WriteString("qemu_version", r.Latency.Greeting.Version);
            json.WriteString("package", r.Latency.Greeting.Package);
            WriteSummary(json, "startup_ms", r.StartupMilliseconds, withSamples: true);
            WriteSummary(json, "qmp_rtt_us", r.Latency.RoundTripMicroseconds, withSamples: false);
            json.WriteNumber("qmp_total_ms", r.Latency.TotalMilliseconds);
            json.WriteStartObject("idle_memory_kib");
            json.WriteNumber("rss", r.Latency.Memory.RssKiB);
            json.WriteNumber("anonymous", r.Latency.Memory.AnonKiB);
            json.WriteNumber("file", r.Latency.Memory.FileKiB);
            json.WriteEndObject();
            json.WriteBoolean("killed_on_stop", r.KilledOnStop);
            json.WriteNumber("events_skipped", r.Latency.EventsSkipped);
            json.WriteEndObject();
        }
        json.WriteEndObject();

        if (Blockd is not null && Qsd is not null)
        {
            json.WriteStartObject("ratios_blockd_over_qsd");
            foreach (Metric m in Metrics)
                json.WriteNumber(m.Key, Ratio(m)!.Value);
            json.WriteEndObject();
        }

        json.WriteEndObject();
        await json.FlushAsync(cancellationToken);
    }

    private double? Ratio(Metric metric) =>
        Blockd is { } b && Qsd is { } q ? metric.Value(b) / metric.Value(q) : null;

    private static void WriteSummary(Utf8JsonWriter json, string name, Summary s, bool withSamples)
    {
        json.WriteStartObject(name);
        json.WriteNumber("count", s.Count);
        json.WriteNumber("min", s.Min);
        json.WriteNumber("median", s.Median);
        json.WriteNumber("p90", s.P90);
        json.WriteNumber("p99", s.P99);
        json.WriteNumber("max", s.Max);
        json.WriteNumber("mean", s.Mean);
        if (withSamples)
        {
            json.WriteStartArray("samples");
            foreach (double sample in s.Samples)
                json.WriteNumberValue(sample);
            json.WriteEndArray();
        }
        json.WriteEndObject();
    }
}
