using BlockDaemon.Core.Errors;

namespace BlockDaemon.Bench.Qcow2;

/// <summary>
/// Qcow2Bench: qemu-img bench's workload against blockd's block drivers in process, and the
/// qemu-io side of random-order runs (see bench/README.md, section qcow2).
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(args);
        }
        catch (HelpRequested)
        {
            Console.WriteLine(BenchOptions.Usage);
            return 0;
        }
        catch (UsageException e)
        {
            await Console.Error.WriteLineAsync($"Qcow2Bench: {e.Message}\n\n{BenchOptions.Usage}");
            return 2;
        }

        using var cancellation = new CancellationTokenSource(TimeSpan.FromSeconds(options.TimeoutSeconds));
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancellation.Cancel();
        };
        // A request the driver never completes ignores cancellation: give up for good a little later.
        using var watchdog = new Timer(_ =>
        {
            Console.Error.WriteLine($"Qcow2Bench: error: no result after {options.TimeoutSeconds} s (a request hangs?)");
            Environment.Exit(1);
        }, null, TimeSpan.FromSeconds(options.TimeoutSeconds + 15), Timeout.InfiniteTimeSpan);

        try
        {
            if (options.QemuIo)
            {
                await new QemuIoBench(options, Console.Out).RunAsync(cancellation.Token);
            }
            else
            {
                await new InProcessBench(options, Console.Out).RunAsync(cancellation.Token);
            }
            return 0;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync($"Qcow2Bench: error: interrupted or timed out ({options.TimeoutSeconds} s)");
            return 1;
        }
        catch (BenchException e)
        {
            await Console.Error.WriteLineAsync($"Qcow2Bench: error: {e.Message}");
            return 1;
        }
        catch (BlockException e)
        {
            await Console.Error.WriteLineAsync($"Qcow2Bench: error: request failed ({e.Kind}): {e.Message}\n{e.StackTrace}");
            return 1;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or NotSupportedException or ArgumentException)
        {
            // A driver bug surfaces here; the stack says where.
            await Console.Error.WriteLineAsync($"Qcow2Bench: error: {e}");
            return 1;
        }
    }
}
