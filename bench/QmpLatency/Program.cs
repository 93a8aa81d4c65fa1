namespace BlockDaemon.Bench.QmpLatency;

/// <summary>
/// qmp-latency: start-up time and QMP round-trip latency of blockd next to qemu-storage-daemon,
/// reported as a table with blockd/qsd ratios (see bench/README.md).
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(args, Environment.GetEnvironmentVariable("BLOCKD"), FindRepoRoot());
        }
        catch (UsageException e)
        {
            await Console.Error.WriteLineAsync($"qmp-latency: {e.Message}\n\n{BenchOptions.Usage}");
            return 2;
        }
        if (options.ShowHelp)
        {
            Console.WriteLine(BenchOptions.Usage);
            return 0;
        }

        using var cancellation = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true; // unwind normally so every daemon started is reaped
            cancellation.Cancel();
        };

        try
        {
            await RunAsync(options, cancellation.Token);
            return 0;
        }
        catch (Exception e) when (cancellation.IsCancellationRequested && e is OperationCanceledException or BenchException)
        {
            // Ctrl+C also reaches the daemons (same process group), so a "daemon died" error is expected here.
            await Console.Error.WriteLineAsync("\nqmp-latency: interrupted");
            return 130;
        }
        catch (BenchException e)
        {
            await Console.Error.WriteLineAsync($"\nqmp-latency: error: {e.Message}");
            return 1;
        }
    }

    private static async Task RunAsync(BenchOptions options, CancellationToken cancellationToken)
    {
        IReadOnlyList<DaemonSpec> daemons = options.Daemons;
        foreach (DaemonSpec daemon in daemons)
            CheckBinary(daemon);

        DateTimeOffset startedAt = DateTimeOffset.Now;
        DirectoryInfo scratch = Directory.CreateTempSubdirectory("qmp-latency-");
        try
        {
            var launcher = new DaemonLauncher(scratch.FullName, options.Nodes, options.Timeout);
            var killed = new HashSet<string>(StringComparer.Ordinal);
            void OnStopped(string label, RunningDaemon running)
            {
                if (running.Process.WasKilled)
                    killed.Add(label);
            }

            foreach (DaemonSpec daemon in daemons)
                await Console.Error.WriteLineAsync($"{daemon.Label}: {daemon.Path} ({daemon.Origin})");

            Dictionary<string, Summary> startup = await StartupBenchmark.RunAsync(
                launcher, daemons, options.Runs, options.Timeout, OnStopped, cancellationToken);

            Dictionary<string, LatencyResult> latency = await LatencyBenchmark.RunAsync(
                launcher, daemons, options.Calls, options.Warmup, options.Idle, options.Timeout, OnStopped, cancellationToken);

            List<DaemonResult> results = [.. daemons.Select(d =>
                new DaemonResult(d, startup[d.Label], latency[d.Label], killed.Contains(d.Label)))];

            var report = new Report(options, results, startedAt);
            Console.WriteLine();
            Console.Write(report.ToText());
            if (options.JsonPath is not null)
            {
                await report.WriteJsonAsync(options.JsonPath, cancellationToken);
                await Console.Error.WriteLineAsync($"figures written to {options.JsonPath}");
            }
        }
        finally
        {
            try
            {
                scratch.Delete(recursive: true);
            }
            catch (IOException)
            {
                // a daemon that could not be reaped may still hold a socket there; leave it
            }
        }
    }

    private static void CheckBinary(DaemonSpec daemon)
    {
        if (File.Exists(daemon.Path))
            return;
        string hint = daemon.Label == BenchOptions.BlockdLabel
            ? "Build it with 'dotnet build -c Release src/BlockDaemon' (or use bench/qmp-latency/run.sh), " +
              "set BLOCKD or pass --blockd PATH; '--only qsd' measures qsd alone."
            : "Install qemu-utils / qemu-system-common or pass --qsd PATH; '--only blockd' measures blockd alone.";
        throw new BenchException($"{daemon.Label} binary not found: {daemon.Path} ({daemon.Origin}). {hint}");
    }

    /// <summary>The directory holding BlockDaemon.sln, searched upwards from the working directory and from the bench binary.</summary>
    private static string FindRepoRoot()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (DirectoryInfo? dir = new(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "BlockDaemon.sln")))
                    return dir.FullName;
            }
        }
        return Directory.GetCurrentDirectory();
    }
}
