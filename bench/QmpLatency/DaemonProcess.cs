using System.ComponentModel;
using System.Diagnostics;

namespace BlockDaemon.Bench.QmpLatency;

/// <summary>
/// A daemon child process: started with its stdout/stderr drained into a bounded tail (for error
/// messages), and always reaped on disposal, by force if it will not go.
/// </summary>
internal sealed class DaemonProcess : IAsyncDisposable
{
    private const int TailLines = 20;

    private readonly Process _process;
    private readonly Queue<string> _tail = new();

    private DaemonProcess(DaemonSpec spec, Process process, long startTimestamp)
    {
        Spec = spec;
        _process = process;
        StartTimestamp = startTimestamp;
    }

    public DaemonSpec Spec { get; }

    /// <summary><see cref="Stopwatch.GetTimestamp"/> taken immediately before the exec.</summary>
    public long StartTimestamp { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>True when the daemon had to be killed because it did not leave on its own.</summary>
    public bool WasKilled { get; private set; }

    /// <exception cref="BenchException">The binary is missing or cannot be executed.</exception>
    public static DaemonProcess Start(DaemonSpec spec, IEnumerable<string> arguments)
    {
        if (!File.Exists(spec.Path))
            throw new BenchException($"{spec.Label} binary not found: {spec.Path} ({spec.Origin})");

        var startInfo = new ProcessStartInfo(spec.Path)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in arguments)
            startInfo.ArgumentList.Add(argument);

        var process = new Process { StartInfo = startInfo };
        DaemonProcess? daemon = null;
        try
        {
            long startTimestamp = Stopwatch.GetTimestamp();
            process.Start();
            daemon = new DaemonProcess(spec, process, startTimestamp);
            process.OutputDataReceived += daemon.OnOutput;
            process.ErrorDataReceived += daemon.OnOutput;
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return daemon;
        }
        catch (Win32Exception e)
        {
            process.Dispose();
            throw new BenchException($"cannot execute {spec.Label} ({spec.Path}): {e.Message}", e);
        }
    }

    /// <summary>
    /// How the process ended (or that it is still running), with the tail of its output. Called after a
    /// failure, so it first gives a dying process a moment to finish and its output to drain.
    /// </summary>
    public async Task<string> DescribeExitAsync()
    {
        await WaitForExitAsync(TimeSpan.FromMilliseconds(500));
        string how = _process.HasExited ? $"exited with code {_process.ExitCode}" : "is still running";
        string output = OutputTail();
        return output.Length == 0 ? $"{Spec.Label} {how} (no output)" : $"{Spec.Label} {how}; its output ends with:\n{output}";
    }

    public string OutputTail()
    {
        lock (_tail)
            return string.Join('\n', _tail.Select(line => "    " + line));
    }

    /// <summary>
    /// Waits for the process to leave (after a QMP 'quit', say); kills it and its children when it has not
    /// gone within <paramref name="grace"/>.
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (await WaitForExitAsync(grace))
            return;
        Kill();
        if (!await WaitForExitAsync(TimeSpan.FromSeconds(10)))
            throw new BenchException(
                $"{Spec.Label} (pid {_process.Id}) was sent SIGKILL but has not finished after 10 s " +
                "(the process, or a child holding its output open, is still there)");
    }

    /// <summary>True once the process has exited and its output has been drained, false on timeout.</summary>
    private async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancellation.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
                await StopAsync(TimeSpan.Zero);
        }
        catch (BenchException e)
        {
            // Disposal often runs while another error unwinds; report this one without hiding that.
            await Console.Error.WriteLineAsync($"qmp-latency: warning: {e.Message}");
        }
        finally
        {
            _process.Dispose();
        }
    }

    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
                WasKilled = true;
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // exited in the meantime
        }
    }

    private void OnOutput(object sender, DataReceivedEventArgs e)
    {
        if (e.Data is null)
            return;
        lock (_tail)
        {
            _tail.Enqueue(e.Data);
            while (_tail.Count > TailLines)
                _tail.Dequeue();
        }
    }
}
