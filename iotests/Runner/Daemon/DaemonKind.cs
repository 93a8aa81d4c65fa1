namespace BlockDaemon.IoTests.Daemon;

/// <summary>Which daemon a transcript runs against.</summary>
public enum DaemonKind
{
    /// <summary>QEMU's qemu-storage-daemon, the oracle the goldens are recorded from.</summary>
    Qsd,

    /// <summary>BlockDaemon's own <c>blockd</c>.</summary>
    Blockd,
}

public static class DaemonKindNames
{
    /// <summary>The name used on the command line, in <c>$DAEMON</c> and in override golden file names.</summary>
    public static string Name(this DaemonKind kind) => kind == DaemonKind.Qsd ? "qsd" : "blockd";

    public static bool TryParse(string name, out DaemonKind kind)
    {
        switch (name)
        {
            case "qsd":
                kind = DaemonKind.Qsd;
                return true;
            case "blockd":
                kind = DaemonKind.Blockd;
                return true;
            default:
                kind = default;
                return false;
        }
    }
}
