namespace BlockDaemon.Bench.QmpLatency;

/// <summary>
/// Start-up time: exec to QMP greeting, measured <c>runs</c> times per daemon. Daemons are started in
/// alternation (blockd, qsd, blockd, qsd, ...) so slow drift of the machine affects both alike, and one
/// untimed start per daemon first brings its binary and libraries into the page cache.
/// </summary>
internal static class StartupBenchmark
{
    public static async Task<Dictionary<string, Summary>> RunAsync(
        DaemonLauncher launcher, IReadOnlyList<DaemonSpec> daemons, int runs, TimeSpan timeout,
        Action<string, RunningDaemon> onStopped, CancellationToken cancellationToken)
    {
        var samples = daemons.ToDictionary(d => d.Label, _ => new List<double>(runs));
        for (int run = -1; run < runs; run++)
        {
            foreach (DaemonSpec daemon in daemons)
            {
                double ms = await StartOnceAsync(launcher, daemon, timeout, onStopped, cancellationToken);
                if (run >= 0)
                    samples[daemon.Label].Add(ms);
            }
            if (run >= 0)
                Console.Error.Write($"\r  start-up: {run + 1}/{runs}");
        }
        Console.Error.WriteLine();
        return samples.ToDictionary(kv => kv.Key, kv => Stats.Summarize(kv.Value));
    }

    private static async Task<double> StartOnceAsync(
        DaemonLauncher launcher, DaemonSpec daemon, TimeSpan timeout,
        Action<string, RunningDaemon> onStopped, CancellationToken cancellationToken)
    {
        await using RunningDaemon running = await launcher.LaunchAsync(daemon, cancellationToken);
        double ms = running.Startup.TotalMilliseconds;
        await running.StopAsync(timeout);
        onStopped(daemon.Label, running);
        return ms;
    }
}
