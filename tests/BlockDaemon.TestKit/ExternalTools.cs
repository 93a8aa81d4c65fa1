using System.Diagnostics;
using Xunit;
using System.Text;

namespace BlockDaemon.TestKit;

/// <summary>
/// Runs the interop tools (qemu-img, qemu-io, qemu-nbd, nbdinfo, nbdcopy): finds them on PATH (a test skips when one is missing), runs one with
/// a timeout, and fails with the command line, exit code, stdout and stderr when it does not end
/// as expected.
/// </summary>
public static class ExternalTools
{
    public const string QemuImg = "qemu-img";
    public const string QemuIo = "qemu-io";

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Skips the calling test unless every tool named is on PATH.</summary>
    public static void Require(params string[] tools)
    {
        foreach (string tool in tools)
        {
            if (Find(tool) is null)
            {
                Assert.Skip($"{tool} is not installed (./build.sh test installs it)");
            }
        }
    }

    public static string? Find(string tool)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':'))
        {
            if (dir.Length == 0)
            {
                continue;
            }
            string candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>Runs <paramref name="tool"/>; fails unless it exits with one of <paramref name="okExitCodes"/> (default: 0).</summary>
    public static async Task<ToolResult> RunAsync(string tool, IReadOnlyList<string> args, CancellationToken ct, params int[] okExitCodes)
    {
        var result = await TryRunAsync(tool, args, DefaultTimeout, ct);
        int[] ok = okExitCodes.Length == 0 ? [0] : okExitCodes;
        if (!ok.Contains(result.ExitCode))
        {
            Assert.Fail(result.ToString());
        }
        return result;
    }

    /// <summary>Runs <paramref name="tool"/> and returns how it ended; fails only on a timeout.</summary>
    public static async Task<ToolResult> TryRunAsync(string tool, IReadOnlyList<string> args, TimeSpan timeout, CancellationToken ct)
    {
        string path = Find(tool) ?? throw new InvalidOperationException($"{tool} is not on PATH; call ExternalTools.Require first");
        string commandLine = tool + " " + string.Join(' ', args.Select(Quote));
        using var process = DaemonLauncher.Start(path, args);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            string partial = await stdout + "\n" + await stderr;
            ct.ThrowIfCancellationRequested();
            Assert.Fail($"`{commandLine}` did not finish within {timeout.TotalSeconds:0} s; output so far:\n{partial}");
        }
        return new ToolResult(commandLine, process.ExitCode, await stdout, await stderr);
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static string Quote(string arg)
    {
        if (arg.Length > 0 && arg.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=,:+@%".Contains(c)))
        {
            return arg;
        }
        var sb = new StringBuilder("'");
        sb.Append(arg.Replace("'", "'\\''", StringComparison.Ordinal));
        return sb.Append('\'').ToString();
    }
}
