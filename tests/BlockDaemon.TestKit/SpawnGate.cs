using System.Diagnostics;

namespace BlockDaemon.TestKit;

/// <summary>
/// Keeps image closes and process starts of one test process apart. A child process holds a
/// copy of every descriptor of ours from its clone until its exec closes them (they are
/// close-on-exec), and with it the image locks of files we may have just closed; a qemu-img
/// started by another test thread could then make a reopen fail with "Failed to get ... lock".
/// Process.Start returns only after the exec, so a start inside the gate leaves no copies behind.
/// </summary>
public static class SpawnGate
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static Process Start(ProcessStartInfo info)
    {
        Gate.Wait();
        try
        {
            return Process.Start(info) ?? throw new InvalidOperationException($"Could not start {info.FileName}");
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>Runs a close of files (a graph's) with no process start in its clone-to-exec window.</summary>
    public static async ValueTask CloseAsync(Func<ValueTask> close)
    {
        await Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await close().ConfigureAwait(false);
        }
        finally
        {
            Gate.Release();
        }
    }
}
