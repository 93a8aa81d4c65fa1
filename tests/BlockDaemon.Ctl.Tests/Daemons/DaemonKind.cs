namespace BlockDaemon.Ctl.Tests.Daemons;

/// <summary>Which daemon a test talks to: qemu-storage-daemon 7.2 (the reference) or blockd.</summary>
public enum DaemonKind
{
    Qsd,
    Blockd,
}
