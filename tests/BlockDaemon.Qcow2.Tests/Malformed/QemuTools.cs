using BlockDaemon.TestKit;
using System.Diagnostics;

namespace BlockDaemon.Qcow2.Tests.Malformed;

/// <summary>What one run of a QEMU tool did. <see cref="ExitCode"/> is 128 + signal when a signal ended it.</summary>
internal sealed record ToolRun(int ExitCode, bool TimedOut, string Stdout, string Stderr)
{
    public string Output => Stdout + Stderr;
}

/// <summary>Finds and runs qemu-img, qemu-io and qemu-storage-daemon, always under a timeout.</summary>
internal static class QemuTools
{
    public const string QemuImg = "qemu-img";
    public const string QemuIo = "qemu-io";
    public const string Qsd = "qemu-storage-daemon";

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The tool's full path on PATH, or null when it is not installed.</summary>
    public static string? Find(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':'))
        {
            string candidate = Path.Combine(dir, tool);
            if (dir.Length > 0 && File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>Runs a tool to completion, killing it (only it and its children) when the timeout expires.</summary>
    public static async Task<ToolRun> RunAsync(string tool, IEnumerable<string> args, TimeSpan? timeout, CancellationToken ct)
    {
        using var process = Start(tool, args);
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        bool timedOut = !await WaitAsync(process, timeout ?? DefaultTimeout, ct);
        return new ToolRun(timedOut ? -1 : process.ExitCode, timedOut, await stdout, await stderr);
    }

    /// <summary>Runs a tool that must succeed; its output is returned.</summary>
    public static async Task<string> CheckedAsync(string tool, IEnumerable<string> args, CancellationToken ct)
    {
        var argList = args.ToList();
        var run = await RunAsync(tool, argList, null, ct);
        if (run.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} {string.Join(' ', argList)} failed ({run.ExitCode}): {run.Output}");
        }
        return run.Stdout;
    }

    public static Process Start(string tool, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(Find(tool) ?? tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        var process = SpawnGate.Start(start);
        process.StandardInput.Close();
        return process;
    }

    /// <summary>Waits for the exit; on timeout kills the process tree it started and returns false.</summary>
    public static async Task<bool> WaitAsync(Process process, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            ct.ThrowIfCancellationRequested();
            return false;
        }
    }

    public static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }
}
