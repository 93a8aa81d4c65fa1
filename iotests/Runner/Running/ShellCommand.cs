using System.Diagnostics;

namespace BlockDaemon.IoTests.Running;

/// <summary>Runs one <c>$</c> step in bash with stdout and stderr merged in the order written.</summary>
public static class ShellCommand
{
    public sealed record Result(string Output, int ExitCode);

    /// <exception cref="TimeoutException">The command (and everything it started) was killed after <paramref name="timeout"/>.</exception>
    public static async Task<Result> RunAsync(
        string command,
        string workingDirectory,
        IReadOnlyDictionary<string, string> environment,
        TimeSpan timeout,
        CancellationToken ct)
    {
        var info = new ProcessStartInfo("bash")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            UseShellExecute = false,
        };

        // One pipe for both streams keeps their interleaving exact.
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("exec 2>&1\n" + command);
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start bash");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(ct);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'$ {command}' did not finish within {timeout.TotalSeconds:0.#} s");
        }

        // A background child could hold the pipe open; its output is not waited for.
        var text = await output.WaitAsync(TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
        return new Result(text, process.ExitCode);
    }
}
