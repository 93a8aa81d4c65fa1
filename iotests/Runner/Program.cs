using BlockDaemon.IoTests.Cli;

namespace BlockDaemon.IoTests;

/// <summary>Entry point of iotests-runner; iotests/check builds and starts it.</summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        CheckOptions options;
        try
        {
            options = CheckOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync($"iotests: {e.Message}\n{CheckOptions.Usage}");
            return 2;
        }

        if (options.Help)
        {
            await Console.Out.WriteLineAsync(CheckOptions.Usage);
            return 0;
        }

        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            // Let the current test's finally blocks kill its daemon and delete TEST_DIR.
            e.Cancel = true;
            cancel.Cancel();
        };
        try
        {
            return await new CheckCommand(options, Console.Out).RunAsync(cancel.Token);
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync($"iotests: {e.Message}");
            return 2;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("iotests: interrupted");
            return 130;
        }
    }
}
