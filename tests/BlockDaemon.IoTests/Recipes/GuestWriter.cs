using System.Diagnostics;
using BlockDaemon.TestKit;

namespace BlockDaemon.IoTests.Recipes;

/// <summary>
/// The guest: one qemu-io connected to an NBD export, writing 4 KiB at random aligned offsets
/// with a new pattern byte each time, one write at a time, while a job runs. It remembers every
/// write the server acknowledged, in order, so the test knows what the disk must hold.
/// Pause stops it between two writes (a guest freezing its file systems for a snapshot).
/// </summary>
internal sealed class GuestWriter : IAsyncDisposable
{
    public const int WriteSize = 4096;
    private readonly Process _process;
    private readonly long _size;
    private readonly Random _random;
    private readonly SemaphoreSlim _running = new(1);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(long Offset, byte Pattern)> _acknowledged = [];
    private readonly List<string> _failures = [];
    private Task? _loop;
    private int _count;
    private bool _disposed;
    private bool _sawFirstPrompt;

    private GuestWriter(Process process, long size, int seed)
    {
        _process = process;
        _size = size;
        _random = new Random(seed);
    }

    /// <summary>Writes the server acknowledged, oldest first.</summary>
    public IReadOnlyList<(long Offset, byte Pattern)> Acknowledged
    {
        get
        {
            lock (_acknowledged)
            {
                return _acknowledged.ToList();
            }
        }
    }

    /// <summary>What failed writes printed (a guest must never see an error in these recipes).</summary>
    public IReadOnlyList<string> Failures => _failures;

    public static GuestWriter Connect(string uri, long size, int seed = 1)
    {
        ExternalTools.Require(ExternalTools.QemuIo);
        var process = DaemonLauncher.Start(ExternalTools.Find(ExternalTools.QemuIo)!, ["-f", "raw", uri]);
        _ = process.StandardError.ReadToEndAsync(CancellationToken.None);
        return new GuestWriter(process, size, seed);
    }

    /// <summary>Starts writing in the background, one write every <paramref name="interval"/>.</summary>
    public void Start(TimeSpan interval) => _loop = Task.Run(() => LoopAsync(interval, _stop.Token));

    /// <summary>Waits until the current write is acknowledged and holds off the next one.</summary>
    public Task PauseAsync(CancellationToken ct) => _running.WaitAsync(ct);

    public void Resume() => _running.Release();

    /// <summary>Pauses and makes every acknowledged write durable (qemu-io flush, then a reply to wait for).</summary>
    public async Task PauseAndFlushAsync(CancellationToken ct)
    {
        await PauseAsync(ct);
        await CommandAsync("flush", ct);
    }

    /// <summary>Stops the writer for good (after the write in flight) and ends qemu-io.</summary>
    public async Task StopAsync()
    {
        _stop.Cancel();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        if (!_process.HasExited)
        {
            await _process.StandardInput.WriteLineAsync("quit");
            await _process.StandardInput.FlushAsync();
            await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
        }
    }

    /// <summary>The writes acknowledged so far applied to <paramref name="disk"/>.</summary>
    public void ApplyTo(byte[] disk)
    {
        foreach (var (offset, pattern) in Acknowledged)
        {
            disk.AsSpan((int)offset, WriteSize).Fill(pattern);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _stop.Cancel();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }
        }
        catch (InvalidOperationException)
        {
            // Already reaped.
        }
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        _process.Dispose();
        _stop.Dispose();
        _running.Dispose();
    }

    private async Task LoopAsync(TimeSpan interval, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _running.WaitAsync(ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                long offset = _random.NextInt64(_size / WriteSize) * WriteSize;
                byte pattern = (byte)(_count++ % 254 + 1);
                string line = await CommandAsync($"write -P {pattern} {offset} {WriteSize}", CancellationToken.None);
                if (line.StartsWith("wrote ", StringComparison.Ordinal))
                {
                    lock (_acknowledged)
                    {
                        _acknowledged.Add((offset, pattern));
                    }
                }
                else
                {
                    _failures.Add(line);
                }
            }
            finally
            {
                _running.Release();
            }
            try
            {
                await Task.Delay(interval, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Runs one qemu-io command and returns what it printed. qemu-io prints its prompt (no line
    /// end) once it is ready for the next command, so the prompt marks the end of each answer
    /// (flush prints nothing else). One command at a time: qemu-io reads stdin from its event
    /// loop and leaves a second line that arrived in the same read unprocessed.
    /// </summary>
    private async Task<string> CommandAsync(string command, CancellationToken ct)
    {
        if (!_sawFirstPrompt)
        {
            await ReadUntilPromptAsync(ct);
            _sawFirstPrompt = true;
        }
        await _process.StandardInput.WriteLineAsync(command.AsMemory(), ct);
        await _process.StandardInput.FlushAsync(ct);
        return (await ReadUntilPromptAsync(ct)).Trim();
    }

    private async Task<string> ReadUntilPromptAsync(CancellationToken ct)
    {
        const string Prompt = "qemu-io> ";
        var text = new System.Text.StringBuilder();
        var one = new char[1];
        while (text.Length < Prompt.Length || text.ToString(text.Length - Prompt.Length, Prompt.Length) != Prompt)
        {
            int n = await _process.StandardOutput.ReadAsync(one.AsMemory(), ct).AsTask().WaitAsync(TimeSpan.FromSeconds(60), ct);
            if (n == 0)
            {
                throw new InvalidOperationException("qemu-io (the guest) exited; it printed: " + text);
            }
            text.Append(one[0]);
        }
        return text.ToString(0, text.Length - Prompt.Length);
    }
}
