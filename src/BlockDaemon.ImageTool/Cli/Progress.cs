using System.Globalization;

namespace BlockDaemon.ImageTool.Cli;

/// <summary>
/// -p: qemu-img's progress line, "    (NN.NN/100%)" rewritten in place with a carriage return,
/// printed again only when it moved by at least 1% (or at the end).
/// </summary>
public sealed class Progress(bool enabled, TextWriter stdout)
{
    private double _printed = -1;

    /// <summary>The first line, 0.00%, as qemu-img prints it before any work.</summary>
    public void Start()
    {
        if (enabled)
        {
            Print(0);
        }
    }

    public void Report(long done, long total)
    {
        if (!enabled)
        {
            return;
        }
        double percent = total <= 0 ? 100 : Math.Min(100, done * 100.0 / total);
        if (_printed < 0 || percent - _printed >= 1 || (percent >= 100 && _printed < 100))
        {
            Print(percent);
        }
    }

    public void End()
    {
        if (!enabled)
        {
            return;
        }
        Print(100);
        stdout.Write('\n');
        stdout.Flush();
        enabled = false;
    }

    private void Print(double percent)
    {
        _printed = percent;
        stdout.Write(string.Format(CultureInfo.InvariantCulture, "    ({0:F2}/100%)\r", percent));
        stdout.Flush();
    }
}
