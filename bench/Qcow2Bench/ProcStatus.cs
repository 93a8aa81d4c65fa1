using System.Globalization;

namespace BlockDaemon.Bench.Qcow2;

/// <summary>Memory figures of a process from /proc/PID/status (Linux), in KiB.</summary>
internal static class ProcStatus
{
    /// <summary>VmHWM (peak resident set) and VmRSS (current), or null when unreadable (process gone).</summary>
    public static (long HwmKb, long RssKb)? Read(string pid = "self")
    {
        try
        {
            long hwm = -1, rss = -1;
            foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    hwm = ParseKb(line);
                }
                else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = ParseKb(line);
                }
            }
            return hwm < 0 || rss < 0 ? null : (hwm, rss);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static long ParseKb(string line) =>
        long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
}
