using System.Globalization;

namespace BlockDaemon.Bench.QmpLatency;

/// <summary>
/// A daemon's memory once it is up and idle, from /proc/PID/status: resident set (VmRSS) and its
/// anonymous part (heap, stacks: RssAnon) and file-backed part (the binary and shared libraries:
/// RssFile), in KiB.
/// </summary>
internal sealed record IdleMemory(long RssKiB, long AnonKiB, long FileKiB)
{
    public static IdleMemory Read(int pid)
    {
        long rss = 0, anon = 0, file = 0;
        string status;
        try
        {
            status = File.ReadAllText($"/proc/{pid}/status");
        }
        catch (IOException e)
        {
            throw new BenchException($"cannot read the memory of pid {pid}: {e.Message}", e);
        }
        foreach (string line in status.Split('\n'))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                rss = Kib(line);
            else if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                anon = Kib(line);
            else if (line.StartsWith("RssFile:", StringComparison.Ordinal))
                file = Kib(line);
        }
        return new IdleMemory(rss, anon, file);
    }

    // "VmRSS:\t   11576 kB"
    private static long Kib(string line) =>
        long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
}
