using System.Globalization;
using System.Text;

namespace BlockDaemon.Ctl.Jobs;

/// <summary>
/// A progress line on stderr, "Block Commit: [#####.....]  45 % (28.8 MiB of 64.0 MiB)". On a
/// terminal it is redrawn in place; on a pipe a new line is written at each 10 % step so logs
/// stay short.
/// </summary>
public sealed class ProgressBar(TextWriter writer, string label, bool terminal)
{
    private const int Width = 30;
    private int _lastPercent = -1;
    private bool _drawn;

    public void Update(long current, long total)
    {
        int percent = total <= 0 ? 0 : (int)Math.Clamp(current * 100 / total, 0, 100);
        if (terminal ? percent == _lastPercent && _drawn : percent / 10 == _lastPercent / 10 && _lastPercent >= 0)
        {
            return;
        }
        _lastPercent = percent;
        string line = Render(label, current, total);
        if (terminal)
        {
            writer.Write("\r" + line);
        }
        else
        {
            writer.WriteLine(line);
        }
        writer.Flush();
        _drawn = true;
    }

    /// <summary>Ends the line (a terminal's bar was drawn without one).</summary>
    public void Finish()
    {
        if (terminal && _drawn)
        {
            writer.WriteLine();
            writer.Flush();
        }
        _drawn = false;
    }

    public static string Render(string label, long current, long total)
    {
        int percent = total <= 0 ? 0 : (int)Math.Clamp(current * 100 / total, 0, 100);
        int filled = percent * Width / 100;
        var sb = new StringBuilder(label).Append(": [");
        sb.Append('#', filled).Append('.', Width - filled).Append("] ");
        sb.Append(percent.ToString(CultureInfo.InvariantCulture).PadLeft(3)).Append(" % (");
        sb.Append(Size(current)).Append(" of ").Append(Size(total)).Append(')');
        return sb.ToString();
    }

    public static string Size(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double value = bytes;
        int unit = 0;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0
            ? bytes.ToString(CultureInfo.InvariantCulture) + " B"
            : value.ToString("0.0", CultureInfo.InvariantCulture) + " " + units[unit];
    }
}
