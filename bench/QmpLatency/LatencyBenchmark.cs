using System.Diagnostics;
using System.Text.Json;

namespace BlockDaemon.Bench.QmpLatency;

/// <summary>The outcome of the round-trip benchmark for one daemon.</summary>
internal sealed record LatencyResult(QmpGreeting Greeting, Summary RoundTripMicroseconds, double TotalMilliseconds, int EventsSkipped, IdleMemory Memory);

/// <summary>
/// QMP round trip: per daemon one connection; after qmp_capabilities, <c>query-named-block-nodes</c> is
/// sent sequentially with one command in flight. The reply is first checked once (untimed) to list
/// exactly the nodes the daemon was started with, so an error path is never benchmarked; warm-up calls
/// are not counted. All daemons are up at the same time and take turns in blocks of
/// <see cref="BlockSize"/> calls, so drift in machine load during the run affects each of them alike;
/// there is never more than one command in flight across all daemons.
/// Before the warm-up, once every daemon is up, negotiated and has answered one command, all of
/// them sit idle for <c>idle</c>; then each one's resident memory is read (<see cref="IdleMemory"/>).
/// </summary>
internal static class LatencyBenchmark
{
    public const int BlockSize = 100;
    private const string Command = "query-named-block-nodes";

    private sealed class Subject(DaemonSpec spec, RunningDaemon running, int calls)
    {
        public DaemonSpec Spec { get; } = spec;
        public RunningDaemon Running { get; } = running;
        public double[] Samples { get; } = new double[calls];
        public TimeSpan Total { get; set; }
    }

    public static async Task<Dictionary<string, LatencyResult>> RunAsync(
        DaemonLauncher launcher, IReadOnlyList<DaemonSpec> daemons, int calls, int warmup, TimeSpan idle, TimeSpan timeout,
        Action<string, RunningDaemon> onStopped, CancellationToken cancellationToken)
    {
        var subjects = new List<Subject>();
        Subject? current = null;
        try
        {
            HashSet<string> expected = launcher.NodeNames.ToHashSet(StringComparer.Ordinal);
            foreach (DaemonSpec daemon in daemons)
            {
                var subject = new Subject(daemon, await launcher.LaunchAsync(daemon, cancellationToken), calls);
                subjects.Add(subject);
                current = subject;
                await subject.Running.NegotiateAsync();
                await CheckReplyAsync(subject.Running, expected);
            }

            await Task.Delay(idle, cancellationToken);
            var memory = new Dictionary<string, IdleMemory>(StringComparer.Ordinal);
            foreach (Subject subject in subjects)
            {
                current = subject;
                memory[subject.Spec.Label] = IdleMemory.Read(subject.Running.Process.Id);
            }

            foreach (Subject subject in subjects)
            {
                current = subject;
                for (int i = 0; i < warmup; i++)
                    await subject.Running.Client.ExecuteAsync(Command);
            }

            for (int start = 0; start < calls; start += BlockSize)
            {
                int end = Math.Min(start + BlockSize, calls);
                foreach (Subject subject in subjects)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    current = subject;
                    await TimeBlockAsync(subject, start, end);
                }
                Console.Error.Write($"\r  round trips: {end}/{calls}");
            }
            Console.Error.WriteLine();

            var results = new Dictionary<string, LatencyResult>(StringComparer.Ordinal);
            foreach (Subject subject in subjects)
            {
                current = subject;
                results[subject.Spec.Label] = new LatencyResult(
                    subject.Running.Greeting, Stats.Summarize(subject.Samples),
                    subject.Total.TotalMilliseconds, subject.Running.Client.EventsSkipped, memory[subject.Spec.Label]);
                await subject.Running.StopAsync(timeout);
                onStopped(subject.Spec.Label, subject.Running);
            }
            return results;
        }
        catch (Exception e) when (current is not null && e is QmpErrorException or TimeoutException or IOException
                                      or InvalidDataException or System.Net.Sockets.SocketException)
        {
            string state = await current.Running.Process.DescribeExitAsync();
            throw new BenchException($"{current.Spec.Label}: QMP round-trip benchmark failed: {e.Message}; {state}", e);
        }
        finally
        {
            foreach (Subject subject in subjects)
                await subject.Running.DisposeAsync();
        }
    }

    private static async Task TimeBlockAsync(Subject subject, int start, int end)
    {
        QmpClient client = subject.Running.Client;
        double[] samples = subject.Samples;
        long blockStart = Stopwatch.GetTimestamp();
        for (int i = start; i < end; i++)
        {
            long before = Stopwatch.GetTimestamp();
            await client.ExecuteAsync(Command);
            samples[i] = Stopwatch.GetElapsedTime(before).TotalMicroseconds;
        }
        subject.Total += Stopwatch.GetElapsedTime(blockStart);
    }

    private static async Task CheckReplyAsync(RunningDaemon running, HashSet<string> expected)
    {
        ReadOnlyMemory<byte> line = await running.Client.ExecuteAsync(Command);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(line);
            foreach (JsonElement node in doc.RootElement.GetProperty("return").EnumerateArray())
                seen.Add(node.GetProperty("node-name").GetString() ?? "");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"malformed '{Command}' reply ({e.Message}): {QmpClient.Excerpt(line.Span)}", e);
        }
        if (!seen.SetEquals(expected))
            throw new InvalidDataException(
                $"'{Command}' lists nodes [{string.Join(", ", seen.Order(StringComparer.Ordinal))}], " +
                $"expected [{string.Join(", ", expected.Order(StringComparer.Ordinal))}]");
    }
}
